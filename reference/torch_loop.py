"""A second torch reference: the RNN written as an explicit loop of torch ops, float64.

``torch.nn.RNN`` only shows its inputs, output and h_n. This loop shows every intermediate:
per (layer, direction) the layer input, the pre-activations a_t, the hidden states h_t,
and, through autograd, da_t = dL/da_t for the same upstream gradients. The harness uses
them for

* a running error bound for every result (``magnitudes``), which sets the tolerance
  scale where cancellation makes a result much smaller than its terms;
* saying where in time two implementations part (diagnosis).

It is cross-checked against ``torch.nn.RNN`` in the meta tests, so it cannot drift.
``nonlinearity`` may also be ``"identity"`` (a linear recurrence, which torch.nn.RNN
does not offer).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

DTYPE = torch.float64

_PHI = {"tanh": torch.tanh, "relu": torch.relu, "identity": lambda a: a}


@dataclass
class Trace:
    """Intermediates of one (layer, direction), all in ORIGINAL time order, numpy float64."""

    layer_input: np.ndarray  # (T, B, I_k)
    h_prev: np.ndarray  # (T, B, H): the state each step read (h0 for the first processed step)
    a: np.ndarray  # (T, B, H) pre-activations
    h: np.ndarray  # (T, B, H) hidden states
    da: np.ndarray  # (T, B, H) dL/da_t
    dh: np.ndarray  # (T, B, H) dL/dh_t, everything that reaches h_t


@dataclass
class LoopResult:
    output: np.ndarray  # time-major (T, B, D*H)
    h_n: np.ndarray
    dx: np.ndarray  # time-major (T, B, I)
    dh0: np.ndarray
    grads: dict
    traces: dict  # (layer, direction) -> Trace


def rnn_loop_vjp(rnn_kwargs: dict, params: dict, x, h0, d_output, d_h_n, truncate=None) -> LoopResult:
    """Forward and VJP of the RNN as a loop of torch ops, all arrays TIME-MAJOR and batched.

    x (T, B, I); h0 (L*D, B, H) or None; d_output (T, B, D*H); d_h_n (L*D, B, H).
    ``truncate=k``: the state entering processing steps k, 2k, ... is detached.
    """
    L = rnn_kwargs.get("num_layers", 1)
    D = 2 if rnn_kwargs.get("bidirectional") else 1
    H = rnn_kwargs["hidden_size"]
    phi = _PHI[rnn_kwargs.get("nonlinearity", "tanh")]
    bias = rnn_kwargs.get("bias", True)
    P = {k: torch.tensor(np.asarray(v, dtype=np.float64), requires_grad=True) for k, v in params.items()}
    xt = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    T, B, _ = xt.shape
    h0t = torch.zeros((L * D, B, H), dtype=DTYPE) if h0 is None else torch.tensor(np.asarray(h0, dtype=np.float64))
    h0t.requires_grad_(True)

    steps = {}  # (layer, d) -> (layer_input, [h_prev], [a], [h]) in original time order
    layer_in, h_n = xt, []
    for layer in range(L):
        outs = []
        for d in range(D):
            sfx = "_reverse" if d else ""
            w_ih, w_hh = P[f"weight_ih_l{layer}{sfx}"], P[f"weight_hh_l{layer}{sfx}"]
            h = h0t[layer * D + d]
            hp, aa, hh = [None] * T, [None] * T, [None] * T
            for s, t in enumerate(range(T - 1, -1, -1) if d else range(T)):
                if truncate and s and s % truncate == 0:
                    h = h.detach()
                a = layer_in[t] @ w_ih.T + h @ w_hh.T
                if bias:
                    a = a + P[f"bias_ih_l{layer}{sfx}"] + P[f"bias_hh_l{layer}{sfx}"]
                a.retain_grad()
                hp[t], aa[t] = h, a
                h = phi(a)
                h.retain_grad()
                hh[t] = h
            steps[(layer, d)] = (layer_in, hp, aa, hh)
            outs.append(torch.stack(hh))
            h_n.append(h)
        layer_in = torch.cat(outs, dim=-1)
    output, h_n = layer_in, torch.stack(h_n)

    names = list(params)
    inputs = [xt, h0t, *[P[n] for n in names]]
    torch.autograd.backward(
        (output, h_n),
        grad_tensors=(torch.tensor(np.asarray(d_output, dtype=np.float64)), torch.tensor(np.asarray(d_h_n, dtype=np.float64))),
        inputs=inputs + [t for (_, _, aa, hh) in steps.values() for t in aa + hh],
    )
    traces = {}
    for key, (lin, hp, aa, hh) in steps.items():
        traces[key] = Trace(
            layer_input=lin.detach().numpy(),
            h_prev=torch.stack(hp).detach().numpy(),
            a=torch.stack(aa).detach().numpy(),
            h=torch.stack(hh).detach().numpy(),
            da=torch.stack([_grad(t) for t in aa]).numpy(),
            dh=torch.stack([_grad(t) for t in hh]).numpy(),
        )
    return LoopResult(
        output=output.detach().numpy(),
        h_n=h_n.detach().numpy(),
        dx=_grad(xt).numpy(),
        dh0=_grad(h0t).numpy(),
        grads={n: _grad(P[n]).numpy() for n in names},
        traces=traces,
    )


def _grad(t: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(t).detach() if t.grad is None else t.grad.detach()


def magnitudes(
    rnn_kwargs: dict, params: dict, loop: LoopResult, x, h0, d_output, d_h_n, batch_first: bool = False, truncate=None
) -> dict:
    """A first-order running error bound for every compared tensor (Wilkinson's running
    error analysis): the whole forward and backward computation evaluated on magnitudes.

    A computed sum of products sum_i p_i q_i errs by at most gamma_n * sum_i |p_i||q_i|
    (Higham, Accuracy and Stability, 3.1), and when p and q are themselves computed their
    own errors (bounded the same way, M_p and M_q) enter as M_p |q| + |p| M_q. Carrying
    M along the graph gives, to first order, |computed - exact| <= c * eps * M with c a
    small multiple of the longest chain of operations. M >= |value| everywhere, and M is
    much larger than |value| exactly where terms cancel, which is where a tolerance
    relative to |value| would raise false alarms. With inputs exact (M = |input|):

      forward   M_a = |W_ih| M_x + |W_hh| M_hprev + |b_ih| + |b_hh|
                M_h = |phi'(a)| M_a + |h|                  (|h|: rounding of phi itself)
      backward  M_dh = |d_output_t| (or M_dx of the layer above) + M_da(t+1) |W_hh|,
                       starting from |d_h_n|
                M_da = M_dh |phi'(a)| + |dh| * 2|h| M_h    (tanh' = 1 - h^2 is computed
                       from a computed h; for relu phi' is exact)
                M_dx = sum_directions M_da |W_ih|,  M_dh0 = M_da(first step) |W_hh|
                M_gW_ih = sum_t M_da^T M_x,  M_gW_hh = sum_t M_da^T M_hprev,  M_gb = sum_t M_da

    Inputs are batched; x, d_output TIME-MAJOR; ``batch_first`` only transposes the
    returned output/dx magnitudes back. Keys are the harness's tensor names.
    """
    L = rnn_kwargs.get("num_layers", 1)
    D = 2 if rnn_kwargs.get("bidirectional") else 1
    H = rnn_kwargs["hidden_size"]
    bias = rnn_kwargs.get("bias", True)
    nonlinearity = rnn_kwargs.get("nonlinearity", "tanh")
    tanh = nonlinearity == "tanh"
    x = np.abs(np.asarray(x, dtype=np.float64))
    T, B, _ = x.shape
    h0 = np.zeros((L * D, B, H)) if h0 is None else np.abs(np.asarray(h0, dtype=np.float64))
    P = {k: np.abs(np.asarray(v, dtype=np.float64)) for k, v in params.items()}

    def dphi(tr):  # |phi'(a)| at the reference point
        if nonlinearity == "identity":
            return np.ones_like(tr.h)
        return 1 - tr.h**2 if tanh else (tr.a > 0).astype(np.float64)

    # -- forward: M_x of each layer, M_hprev and M_h of each (layer, direction) ----------
    Mx, Mhp, Mh, Mhn = [x], {}, {}, np.empty((L * D, B, H))
    for layer in range(L):
        outs = []
        for d in range(D):
            sfx, tr = ("_reverse" if d else ""), loop.traces[(layer, d)]
            w_ih, w_hh = P[f"weight_ih_l{layer}{sfx}"], P[f"weight_hh_l{layer}{sfx}"]
            b = P[f"bias_ih_l{layer}{sfx}"] + P[f"bias_hh_l{layer}{sfx}"] if bias else 0.0
            hp, h = np.empty((T, B, H)), np.empty((T, B, H))
            prev = h0[layer * D + d]
            for t in (range(T - 1, -1, -1) if d else range(T)):
                hp[t] = prev
                ma = Mx[layer][t] @ w_ih.T + prev @ w_hh.T + b
                h[t] = prev = dphi(tr)[t] * ma + np.abs(tr.h[t])
            Mhp[(layer, d)], Mh[(layer, d)], Mhn[layer * D + d] = hp, h, prev
            outs.append(h)
        Mx.append(np.concatenate(outs, axis=-1))

    # -- backward, top layer down ------------------------------------------------------
    mags: dict = {}
    Mdh0 = np.empty((L * D, B, H))
    Mdy = np.abs(np.asarray(d_output, dtype=np.float64))
    for layer in range(L - 1, -1, -1):
        Mdx = np.zeros_like(Mx[layer])
        for d in range(D):
            sfx, tr = ("_reverse" if d else ""), loop.traces[(layer, d)]
            w_ih, w_hh = P[f"weight_ih_l{layer}{sfx}"], P[f"weight_hh_l{layer}{sfx}"]
            g, mh = dphi(tr), Mh[(layer, d)]
            dphi_err = 2 * np.abs(tr.h) * mh if tanh else 0.0
            Mda = np.empty((T, B, H))
            carry = np.abs(np.asarray(d_h_n, dtype=np.float64))[layer * D + d]
            for t in (range(T) if d else range(T - 1, -1, -1)):  # reverse processing order
                mdh = Mdy[t, :, d * H:(d + 1) * H] + carry
                Mda[t] = mdh * g[t] + (np.abs(tr.dh[t]) * dphi_err[t] if tanh else 0.0)
                carry = Mda[t] @ w_hh
                s = T - 1 - t if d else t  # processing step
                if truncate and s > 0 and s % truncate == 0:
                    carry = np.zeros_like(carry)
            Mdh0[layer * D + d] = carry
            Mdx += Mda @ w_ih
            A = Mda.reshape(T * B, H)
            mags[f"grad weight_ih_l{layer}{sfx}"] = A.T @ Mx[layer].reshape(T * B, -1)
            mags[f"grad weight_hh_l{layer}{sfx}"] = A.T @ Mhp[(layer, d)].reshape(T * B, H)
            if bias:
                mags[f"grad bias_ih_l{layer}{sfx}"] = mags[f"grad bias_hh_l{layer}{sfx}"] = A.sum(axis=0)
        Mdy = Mdx
    bf = (lambda a: a.swapaxes(0, 1)) if batch_first else (lambda a: a)
    mags.update(output=bf(Mx[L]), h_n=Mhn, dx=bf(Mdy), dh0=Mdh0)
    return mags

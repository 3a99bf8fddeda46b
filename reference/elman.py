"""The Elman family's reference beyond ``torch.nn.RNN``: one step function, an explicit loop of
it and the running error bound (torch's own variable-length and truncated runs, and the
per-sequence bounds for ``lengths``, are every family's: ``torch_ref.extension_call``,
``torch_ref.per_sequence``).

``torch.nn.RNN`` only shows its inputs, output and h_n. ``rnn_loop_vjp`` runs ``step`` (the
family's equation, in torch ops, float64) over layers, directions and time, and shows every
intermediate: per (layer, direction) the layer input, the pre-activations a_t, the hidden
states h_t, and, through autograd, da_t = dL/da_t for the same upstream gradients. The
harness uses them for

* the running error bound of every result (``bounds``), which the one tolerance rule
  (``parity_tests/core/tolerance.py``) uses as its scale where cancellation makes a result
  much smaller than its terms;
* saying where in time two implementations part (diagnosis).

It is cross-checked against ``torch.nn.RNN`` in the meta tests, so it cannot drift.
``nonlinearity`` may also be ``"identity"`` (a linear recurrence, which torch.nn.RNN
does not offer). The RNNCell is the one-step, one-layer case of the same functions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from parity_tests.core.tolerance import dphi_bound, phi_bound

from .torch_ref import as_tensor, per_sequence

DTYPE = torch.float64

_PHI = {"tanh": torch.tanh, "relu": torch.relu, "identity": lambda a: a}


def step(x_t, h, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    """One Elman step in torch ops: returns (a, h') with a = x_t W_ih^T + h W_hh^T (+ b_ih + b_hh),
    h' = phi(a). x_t (B, I), h (B, H), W_ih (H, I), W_hh (H, H), biases (H,)."""
    a = x_t @ w_ih.T + h @ w_hh.T
    if b_ih is not None:
        a = a + b_ih + b_hh
    return a, _PHI[nonlinearity](a)


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
    nonlinearity = rnn_kwargs.get("nonlinearity", "tanh")
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
                b = (P[f"bias_ih_l{layer}{sfx}"], P[f"bias_hh_l{layer}{sfx}"]) if bias else (None, None)
                hp[t] = h
                a, h = step(layer_in[t], h, w_ih, w_hh, *b, nonlinearity)
                a.retain_grad()
                aa[t] = a
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
        grad_tensors=(as_tensor(d_output), as_tensor(d_h_n)),
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


def loop_bounds(
    rnn_kwargs: dict, params: dict, loop: LoopResult, x, h0, d_output, d_h_n, truncate=None
) -> dict:
    """The running error bound M of every compared tensor (``parity_tests/core/tolerance.py``
    states the rule and its per-operation pieces): the whole forward and backward
    computation evaluated on magnitudes, at the reference's own states ``loop``.

      forward   M_a = |W_ih| M_x + |W_hh| M_hprev + |b_ih| + |b_hh|
                M_h = |phi'(a)| M_a + r_phi [M_a > 0]     (tanh's own rounding is absolute:
                                                          r_tanh = 1, r_relu = r_identity = 0)
      backward  M_dh = |d_output_t| (or M_dx of the layer above) + M_da(t+1) |W_hh|,
                       starting from |d_h_n|
                M_da = M_dh |phi'(a)| + |dh| M(phi'(a)),  M(tanh') = 2|h| M_h + [M_a > 0]
                M_dx = sum_directions M_da |W_ih|,  M_dh0 = M_da(first step) |W_hh|
                M_gW_ih = sum_t M_da^T M_x,  M_gW_hh = sum_t M_da^T M_hprev,  M_gb = sum_t M_da

    Everything TIME-MAJOR and batched: x (T, B, I), d_output (T, B, D*H). Keys are the
    harness's tensor names (output and dx time-major).
    """
    L = rnn_kwargs.get("num_layers", 1)
    D = 2 if rnn_kwargs.get("bidirectional") else 1
    H = rnn_kwargs["hidden_size"]
    bias = rnn_kwargs.get("bias", True)
    nonlinearity = rnn_kwargs.get("nonlinearity", "tanh")
    x = np.abs(np.asarray(x, dtype=np.float64))
    T, B, _ = x.shape
    h0 = np.zeros((L * D, B, H)) if h0 is None else np.abs(np.asarray(h0, dtype=np.float64))
    P = {k: np.abs(np.asarray(v, dtype=np.float64)) for k, v in params.items()}

    def dphi(tr):  # |phi'(a)| at the reference point
        if nonlinearity == "identity":
            return np.ones_like(tr.h)
        return 1 - tr.h**2 if nonlinearity == "tanh" else (tr.a > 0).astype(np.float64)

    # -- forward: M_x of each layer, M_hprev and M_h of each (layer, direction) ----------
    Mx, Mhp, Mh, Mhn = [x], {}, {}, np.empty((L * D, B, H))
    for layer in range(L):
        outs = []
        for d in range(D):
            sfx, tr = ("_reverse" if d else ""), loop.traces[(layer, d)]
            w_ih, w_hh = P[f"weight_ih_l{layer}{sfx}"], P[f"weight_hh_l{layer}{sfx}"]
            b = P[f"bias_ih_l{layer}{sfx}"] + P[f"bias_hh_l{layer}{sfx}"] if bias else 0.0
            g = dphi(tr)
            hp, h = np.empty((T, B, H)), np.empty((T, B, H))
            prev = h0[layer * D + d]
            for t in (range(T - 1, -1, -1) if d else range(T)):
                hp[t] = prev
                ma = Mx[layer][t] @ w_ih.T + prev @ w_hh.T + b
                h[t] = prev = phi_bound(nonlinearity, g[t], tr.h[t], ma)
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
            g = dphi(tr)
            dphi_err = dphi_bound(nonlinearity, tr.h, Mh[(layer, d)]) * np.ones_like(g)
            Mda = np.empty((T, B, H))
            carry = np.abs(np.asarray(d_h_n, dtype=np.float64))[layer * D + d]
            for t in (range(T) if d else range(T - 1, -1, -1)):  # reverse processing order
                mdh = Mdy[t, :, d * H:(d + 1) * H] + carry
                Mda[t] = mdh * g[t] + np.abs(tr.dh[t]) * dphi_err[t]
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
    mags.update(output=Mx[L], h_n=Mhn, dx=Mdy, dh0=Mdh0)
    return mags


def rnn_bounds(rnn_kwargs: dict, params: dict, x, h0, d_output, d_h_n, lengths=None, truncate=None) -> dict:
    """Running error bounds of every RNN tensor, TIME-MAJOR arrays in and out.

    With variable ``lengths`` each sequence is bounded on its own (``torch_ref.per_sequence``).
    """
    if lengths is not None:
        return per_sequence(lambda x_, init, d_out, d_fin: rnn_bounds(rnn_kwargs, params, x_, *init, d_out, *d_fin),
                            x, (h0,), d_output, (d_h_n,), lengths)
    loop = rnn_loop_vjp(rnn_kwargs, params, x, h0, d_output, d_h_n, truncate=truncate)
    return loop_bounds(rnn_kwargs, params, loop, x, h0, d_output, d_h_n, truncate=truncate)

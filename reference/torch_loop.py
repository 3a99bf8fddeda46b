"""A second torch reference: the RNN written as an explicit loop of torch ops, float64.

``torch.nn.RNN`` only shows its inputs, output and h_n. This loop shows every intermediate:
per (layer, direction) the layer input, the pre-activations a_t, the hidden states h_t,
and, through autograd, da_t = dL/da_t for the same upstream gradients. The harness uses
them for

* the magnitude of the terms each result is a sum of (``magnitudes``), which sets the
  tolerance scale where cancellation makes a result much smaller than its terms;
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


def rnn_loop_vjp(rnn_kwargs: dict, params: dict, x, h0, d_output, d_h_n) -> LoopResult:
    """Forward and VJP of the RNN as a loop of torch ops, all arrays TIME-MAJOR and batched.

    x (T, B, I); h0 (L*D, B, H) or None; d_output (T, B, D*H); d_h_n (L*D, B, H).
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
            for t in (range(T - 1, -1, -1) if d else range(T)):
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


def magnitudes(rnn_kwargs: dict, params: dict, loop: LoopResult, batch_first: bool = False) -> dict:
    """For every compared tensor, the inf-norm of the sum of |terms| it is made of.

    Every result here is a sum of products, sum_i p_i q_i, and floating-point summation
    errs by at most gamma_n * sum_i |p_i q_i| (Higham, Accuracy and Stability, 3.1): the
    size of the TERMS, not of the result, bounds the rounding error. Where terms cancel,
    the result can be far smaller than that, so the tolerance scale is taken as
    max(|result|, these magnitudes):

      output, h_n:   |W_ih||x_t| + |W_hh||h_{t-1}| + |b_ih| + |b_hh|   (|phi'| <= 1)
      grad W_ih:     sum_t |da_t|^T |x_t|          grad W_hh: sum_t |da_t|^T |h_{t-1}|
      grad b_*:      sum_t,b |da_t|
      dx:            sum_d |da_t^d| |W_ih^d|     (layer 0)
      dh0:           |da_first| |W_hh|, da_first at the first processed step (dh0 is exactly
                     da_first W_hh)
    Keys are the harness's tensor names ("output", "h_n", "dx", "dh0", "grad <param>");
    output and dx are batch-first when ``batch_first``, like the tensors they scale.
    """
    L = rnn_kwargs.get("num_layers", 1)
    D = 2 if rnn_kwargs.get("bidirectional") else 1
    bias = rnn_kwargs.get("bias", True)
    T = loop.output.shape[0]
    mags: dict = {}
    out_mag, hn_mag, dh0_mag = [], [], []
    dx_mag = None
    for layer in range(L):
        layer_out = []
        for d in range(D):
            sfx = "_reverse" if d else ""
            tr = loop.traces[(layer, d)]
            w_ih, w_hh = np.abs(params[f"weight_ih_l{layer}{sfx}"]), np.abs(params[f"weight_hh_l{layer}{sfx}"])
            m = np.abs(tr.layer_input) @ w_ih.T + np.abs(tr.h_prev) @ w_hh.T
            if bias:
                m = m + np.abs(params[f"bias_ih_l{layer}{sfx}"]) + np.abs(params[f"bias_hh_l{layer}{sfx}"])
            layer_out.append(m)
            hn_mag.append(m[0] if d else m[T - 1])
            A = np.abs(tr.da)
            first = T - 1 if d else 0
            dh0_mag.append(A[first] @ w_hh)
            A2 = A.reshape(-1, A.shape[-1])
            mags[f"grad weight_ih_l{layer}{sfx}"] = A2.T @ np.abs(tr.layer_input).reshape(A2.shape[0], -1)
            mags[f"grad weight_hh_l{layer}{sfx}"] = A2.T @ np.abs(tr.h_prev).reshape(A2.shape[0], -1)
            if bias:
                mags[f"grad bias_ih_l{layer}{sfx}"] = A2.sum(axis=0)
                mags[f"grad bias_hh_l{layer}{sfx}"] = A2.sum(axis=0)
            if layer == 0:
                term = A @ w_ih
                dx_mag = term if dx_mag is None else dx_mag + term
        out_mag = np.concatenate(layer_out, axis=-1)
    mags["output"] = out_mag.swapaxes(0, 1) if batch_first else out_mag
    mags["h_n"] = np.stack(hn_mag)
    mags["dx"] = dx_mag.swapaxes(0, 1) if batch_first else dx_mag
    mags["dh0"] = np.stack(dh0_mag)
    return mags

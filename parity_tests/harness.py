"""Both sides run on one case; the comparison walks the tensors in causal order.

    output -> h_n -> dx -> dh0 -> grad <every parameter, torch's order>

A forward mismatch explains any backward one, so the first failing tensor in that order is
the one reported in detail; the others are listed with their normwise error.
"""

from __future__ import annotations

import os
import shlex

import numpy as np

from reference import torch_cell_vjp, torch_rnn_vjp
from reference.torch_loop import magnitudes, rnn_loop_vjp
from reference.torch_models import torch_loss
from reference.torch_ref import load_weights

from .cases import DTYPES, CellCase, RNNCase
from .compare import CellLocator, Comparison, Locator, compare, format_comparison, rtol_for
from .contract import impl_name, run_cell, run_rnn
from .diagnosis import diagnose


# ``pytest --parity-json PATH`` sets this to a list: every checked case is appended to it
# (pass or fail) as a JSON-able dict, and conftest.py writes the lot at the end.
RECORD: list | None = None


def _record(kind: str, cls_name: str, case, comparisons) -> None:
    if RECORD is not None:
        RECORD.append({
            "test": os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0],
            "kind": kind,
            "implementation": cls_name,
            "case": repr(case),
            "passed": all(c.passed for c in comparisons),
            "comparisons": [c.as_dict() for c in comparisons],
        })


class ParityMismatch(AssertionError):
    """The implementation's numbers differ from torch's beyond the tolerance.

    For an RNN the message ends with a diagnosis (parity_tests/diagnosis.py). It is
    computed when the message is first read, not when the exception is raised: hypothesis
    raises many while it shrinks, and only the final one is shown.
    """

    def __init__(self, message: str, comparisons: list[Comparison], diagnose=None):
        super().__init__(message)
        self.comparisons = comparisons
        self._diagnose, self._diagnosis = diagnose, None

    @property
    def failed(self) -> list[str]:
        return [c.tensor for c in self.comparisons if not c.passed]

    @property
    def diagnosis(self):
        if self._diagnosis is None and self._diagnose is not None:
            self._diagnosis = self._diagnose()
        return self._diagnosis

    def __str__(self) -> str:
        text = super().__str__()
        return text if self.diagnosis is None else f"{text}\n{self.diagnosis.render()}"


def rnn_comparisons(cls, case: RNNCase) -> list[Comparison]:
    """Run ``cls`` and torch on ``case``; one Comparison per tensor, in causal order."""
    cfg = case.config
    arrays = case.materialize()
    mine = run_rnn(cls, cfg, arrays, case.lengths, case.truncate)
    ref = torch_rnn_vjp(
        cfg.module_kwargs(), arrays["params"], arrays["x"], arrays["h0"], arrays["d_output"], arrays["d_h_n"],
        lengths=case.lengths, truncate=case.truncate,
    )
    mags = rnn_magnitudes(cfg, arrays, case.lengths, case.truncate)
    rtol, loc = rtol_for(arrays["x"].dtype), Locator(cfg)
    pairs = [("output", mine.output, ref.output), ("h_n", mine.h_n, ref.h_n), ("dx", mine.dx, ref.dx), ("dh0", mine.dh0, ref.dh0)]
    pairs += [(f"grad {n}", mine.grads[n], ref.grads[n]) for n in ref.grads]
    return [compare(name, a, e, rtol=rtol, magnitude=mags[name], locate=loc) for name, a, e in pairs]


def rnn_magnitudes(cfg, arrays, lengths=None, truncate=None) -> dict:
    """Running error bounds of every tensor (``reference.torch_loop.magnitudes``).

    With variable ``lengths`` each sequence is bounded on its own (its valid steps only,
    exactly the computation the packed path does for it) and the bounds are put back in
    place: parameter gradients are sums over the batch, so their bounds add.
    """
    tm = (lambda a: a.swapaxes(0, 1)) if cfg.batch_first else (lambda a: a)
    kw, p = cfg.module_kwargs(), arrays["params"]
    x, d_out, h0, d_hn = tm(arrays["x"]), tm(arrays["d_output"]), arrays["h0"], arrays["d_h_n"]
    if lengths is None:
        loop = rnn_loop_vjp(kw, p, x, h0, d_out, d_hn, truncate=truncate)
        return magnitudes(kw, p, loop, x, h0, d_out, d_hn, batch_first=cfg.batch_first, truncate=truncate)
    T, B = x.shape[:2]
    total: dict = {"output": np.zeros(d_out.shape), "dx": np.zeros(x.shape),
                   "h_n": np.zeros(d_hn.shape), "dh0": np.zeros(d_hn.shape)}
    for b, n in enumerate(lengths):
        sl = (slice(0, n), slice(b, b + 1))
        h0_b = None if h0 is None else h0[:, b : b + 1]
        loop = rnn_loop_vjp(kw, p, x[sl], h0_b, d_out[sl], d_hn[:, b : b + 1])
        m = magnitudes(kw, p, loop, x[sl], h0_b, d_out[sl], d_hn[:, b : b + 1])
        for name in ("output", "dx"):
            total[name][:n, b] = m[name][:, 0]
        for name in ("h_n", "dh0"):
            total[name][:, b] = m[name][:, 0]
        for name, v in m.items():
            if name.startswith("grad "):
                total[name] = total.get(name, 0) + v
    total["output"], total["dx"] = tm(total["output"]), tm(total["dx"])
    return total


def cell_magnitudes(cfg, arrays, h_next) -> dict:
    """Running error bounds of every cell tensor: one step of ``reference.torch_loop.magnitudes``."""
    p = {k: np.abs(v.astype(np.float64)) for k, v in arrays["params"].items()}
    x = np.abs(arrays["x"].astype(np.float64))
    h = np.zeros((cfg.batch, cfg.hidden_size)) if arrays["h"] is None else np.abs(arrays["h"].astype(np.float64))
    d = np.abs(arrays["d_h_next"].astype(np.float64))
    ma = x @ p["weight_ih"].T + h @ p["weight_hh"].T + (p["bias_ih"] + p["bias_hh"] if cfg.bias else 0)
    if cfg.nonlinearity == "tanh":
        g = 1 - h_next**2
        mh = g * ma + np.abs(h_next)
        A = d * g + d * 2 * np.abs(h_next) * mh  # tanh' from a computed h
    else:
        mh = (h_next > 0) * ma
        A = d * (h_next > 0)
    mags = {"h_next": mh, "dx": A @ p["weight_ih"], "dh": A @ p["weight_hh"],
            "grad weight_ih": A.T @ x, "grad weight_hh": A.T @ h}
    if cfg.bias:
        mags["grad bias_ih"] = mags["grad bias_hh"] = A.sum(axis=0)
    return mags


def cell_comparisons(cls, case: CellCase) -> list[Comparison]:
    cfg = case.config
    arrays = case.materialize()
    mine = run_cell(cls, cfg, arrays)
    ref = torch_cell_vjp(cfg.module_kwargs(), arrays["params"], arrays["x"], arrays["h"], arrays["d_h_next"])
    mags = cell_magnitudes(cfg, arrays, ref.h_next)
    rtol, loc = rtol_for(arrays["x"].dtype), CellLocator(cfg)
    pairs = [("h_next", mine.h_next, ref.h_next), ("dx", mine.dx, ref.dx), ("dh", mine.dh, ref.dh)]
    pairs += [(f"grad {n}", mine.grads[n], ref.grads[n]) for n in ref.grads]
    return [compare(name, a, e, rtol=rtol, magnitude=mags[name], locate=loc) for name, a, e in pairs]


def assert_rnn_parity(cls, case: RNNCase) -> list[Comparison]:
    __tracebackhide__ = True
    comparisons = rnn_comparisons(cls, case)
    _record("rnn", impl_name(cls), case, comparisons)
    _raise_on_mismatch(cls, case, comparisons, "torch.nn.RNN", "--rnn-impl",
                       diagnose=lambda: diagnose(cls, case, comparisons))
    return comparisons


def assert_cell_parity(cls, case: CellCase) -> list[Comparison]:
    __tracebackhide__ = True
    comparisons = cell_comparisons(cls, case)
    _record("cell", impl_name(cls), case, comparisons)
    _raise_on_mismatch(cls, case, comparisons, "torch.nn.RNNCell", "--cell-impl")
    return comparisons


def _raise_on_mismatch(cls, case, comparisons, oracle: str, flag: str, diagnose=None) -> None:
    __tracebackhide__ = True
    failed = [c for c in comparisons if not c.passed]
    if not failed:
        return
    first = failed[0]
    status = causal_order_line(comparisons)
    others = [f"  {c.tensor}: normwise error {c.normwise:.3g}, greatest at ({c.abs_where})" for c in failed[1:]]
    lines = [
        f"{first.tensor} of {impl_name(cls)} differs from {oracle}",
        f"case: {case.config.short()}; seed={case.seed}, weight_scale={case.weight_scale:.4g}, "
        f"input_scale={case.input_scale:.4g}"
        + (", all-zero weights" if case.zero_weights else "")
        + (", all-zero inputs" if case.zero_inputs else ""),
        format_comparison(first),
    ]
    if others:
        lines += ["Also differing:", *others]
    lines += [status, reproduce_note(cls, case, flag)]
    raise ParityMismatch("\n".join(lines), comparisons, diagnose)


def causal_order_line(comparisons) -> str:
    return "Causal order: " + ", ".join(f"{c.tensor} {'ok' if c.passed else 'DIFFERS'}" for c in comparisons)


def reproduce_note(cls, case, flag: str) -> str:
    node = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0]
    lines = ["To reproduce:"]
    if node:
        lines.append(f"  pytest {shlex.quote(node)} {flag} {impl_name(cls)}   (the ci profile is derandomized, dev replays .hypothesis/)")
    text = repr(case)
    quoted = f'"{text}"' if not set(text) & set('"$`\\!') else shlex.quote(text)
    lines.append(f"  python -m parity_tests.repro {flag} {impl_name(cls)} {quoted}")
    return "\n".join(lines)


def model_comparisons(case) -> list[Comparison]:
    """scratch.model.SequenceModel vs the torch model: the loss, then every gradient.

    The tolerance scale of the RNN's gradients is its running error bound, driven by the
    reference's own dL/d(output); the head's is sum |dy|^T |h|, the loss's |loss| (a sum
    of non-negative terms, or a mean of -log p with p in (0, 1]).
    """
    import torch

    from reference.torch_models import TorchSequenceModel, as_target
    from scratch.model import SequenceModel

    cfg, a = case.config, case.materialize()
    mine = SequenceModel(**cfg.model_kwargs(), dtype=DTYPES[cfg.dtype])
    mine.params = {k: v.copy() for k, v in a["params"].items()}
    loss = mine.forward(a["x"].copy(), a["target"])
    grads = mine.backward()

    ref = TorchSequenceModel(**cfg.model_kwargs())
    load_weights(ref, a["params"])
    x = torch.as_tensor(a["x"].astype(np.float64))
    out, _ = ref.rnn(x)
    last = out[:, -1] if cfg.batch_first else out[-1]
    h_in = None if cfg.head is None else (last if cfg.head == "last" else out)
    y = last if cfg.head is None else ref.head(h_in)
    ref_loss = torch_loss(cfg.loss, y, as_target(a["target"]))
    names = [n for n, _ in ref.named_parameters()]
    g = torch.autograd.grad(ref_loss, [*ref.parameters(), out, y])
    ref_grads = {n: t.numpy() for n, t in zip(names, g)}
    d_out, dy = g[-2].numpy(), g[-1].numpy()

    rc = cfg.rnn_config()
    rnn_arrays = dict(
        params={k[4:]: v for k, v in a["params"].items() if k.startswith("rnn.")},
        x=a["x"], h0=None, d_output=d_out, d_h_n=np.zeros(rc.state_shape()),
    )
    mags = {f"grad rnn.{k[5:]}": v for k, v in rnn_magnitudes(rc, rnn_arrays).items() if k.startswith("grad ")}
    if cfg.head is not None:
        h = np.abs(h_in.detach().numpy())
        dy_abs = np.abs(dy).reshape(-1, dy.shape[-1])
        mags["grad head.weight"] = dy_abs.T @ h.reshape(-1, h.shape[-1])
        mags["grad head.bias"] = dy_abs.sum(axis=0)
    rtol = rtol_for(DTYPES[cfg.dtype])
    out_cmp = [compare("loss", np.array([loss]), np.array([ref_loss.item()]), rtol=rtol)]
    return out_cmp + [
        compare(f"grad {n}", grads[n], ref_grads[n], rtol=rtol, magnitude=mags[f"grad {n}"]) for n in names
    ]


def assert_model_parity(case) -> list[Comparison]:
    __tracebackhide__ = True
    comparisons = model_comparisons(case)
    _record("model", "scratch.model:SequenceModel", case, comparisons)
    failed = [c for c in comparisons if not c.passed]
    if failed:
        lines = [f"{failed[0].tensor} of scratch.model.SequenceModel differs from the torch model",
                 f"case: {case.config.short()}; seed={case.seed}, weight_scale={case.weight_scale:.4g}",
                 format_comparison(failed[0]),
                 causal_order_line(comparisons),
                 f"To reproduce: assert_model_parity({case!r})"]
        raise ParityMismatch("\n".join(lines), comparisons)
    return comparisons

"""scratch's sequence model and its training (seeds 000, 002, 004): not a plug-in family but
scratch's own extension, checked with the same machinery. Configuration, case, strategies
and the comparison of ``scratch.model.SequenceModel`` with the torch model.

The tolerance scale of the RNN's gradients is its running error bound (the RNN family's
``bounds``, driven by the reference's own dL/d(output)); the head's is sum |dy|^T |h|, the
loss's |loss| (a sum of non-negative terms, or a mean of -log p with p in (0, 1]).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from ..core.cases import DTYPES, MAX_INPUT_SCALE, MAX_WEIGHT_SCALE, Case, Drawn, weights
from ..core.compare import causal_order_line, compare, format_comparison
from ..core.messages import ParityMismatch
from ..core.strategies import knob as _knob
from ..core.strategies import scales
from . import rnn
from .rnn import RNNConfig


@dataclass(frozen=True)
class ModelConfig:
    """RNN + optional Linear head + loss (scratch.model.SequenceModel)."""

    input_size: int
    hidden_size: int
    output_size: int = 1
    nonlinearity: str = "tanh"
    num_layers: int = 1
    bidirectional: bool = False
    bias: bool = True
    batch_first: bool = True
    head: str | None = "last"
    loss: str = "mse"
    seq_len: int = 4
    batch: int = 3
    dtype: str = "float64"

    def rnn_config(self) -> RNNConfig:
        return RNNConfig(self.input_size, self.hidden_size, self.num_layers, self.nonlinearity, self.bias,
                         self.batch_first, self.bidirectional, self.seq_len, self.batch, self.dtype, has_h0=False)

    def model_kwargs(self) -> dict:
        return dict(self.rnn_config().module_kwargs(), output_size=self.output_size if self.head is not None else None,
                    head=self.head, loss=self.loss)

    def short(self) -> str:
        return f"{self.rnn_config().short()}; head={self.head}, loss={self.loss}, O={self.output_size}"


@dataclass(frozen=True)
class ModelCase(Drawn):
    """``config`` is a ModelConfig."""

    def materialize(self) -> dict:
        c = self.config
        dtype = DTYPES[c.dtype]
        rng = np.random.default_rng(self.seed)
        rc = c.rnn_config()
        params = {f"rnn.{k}": v for k, v in weights(rng, rc.param_shapes(), self.weight_scale, False, dtype).items()}
        if c.head is not None:
            fan = rc.num_directions * c.hidden_size
            params["head.weight"] = (rng.uniform(-1, 1, (c.output_size, fan)) / np.sqrt(fan)).astype(dtype)
            params["head.bias"] = (rng.uniform(-1, 1, c.output_size) / np.sqrt(fan)).astype(dtype)
        x = (rng.uniform(-1, 1, rc.x_shape()) * self.input_scale).astype(dtype)
        y_shape = {"last": (c.batch, c.output_size), None: (c.batch, c.hidden_size * rc.num_directions)}.get(
            c.head, rc.out_shape()[:2] + (c.output_size,))
        if c.loss == "cross_entropy":
            target = rng.integers(0, y_shape[-1], y_shape[:-1])
        else:
            target = rng.standard_normal(y_shape).astype(dtype)
        return dict(params=params, x=x, target=target)


@st.composite
def model_cases(draw, *, nonlinearity=None, head="any", loss=None, max_seq_len: int = 6, max_batch: int = 3):
    """RNN + head + loss configurations (scratch.model.SequenceModel vs the torch model).

    ``head="any"`` draws among "last", "every" and None. The identity recurrence is
    unidirectional (its reference is an explicit torch loop); cross-entropy needs a head.
    """
    nl = _knob(draw, nonlinearity, st.sampled_from(["tanh", "relu", "identity"]))
    hd = draw(st.sampled_from(["last", "every", None])) if head == "any" else head
    ls = _knob(draw, loss, st.sampled_from(["mse", "half_sse", "sse"] + (["cross_entropy"] if hd else [])))
    cfg = ModelConfig(
        input_size=draw(st.integers(1, 4)),
        hidden_size=draw(st.integers(1, 5)),
        output_size=draw(st.integers(1 if ls != "cross_entropy" else 2, 4)),
        nonlinearity=nl,
        num_layers=draw(st.integers(1, 2)),
        bidirectional=False if nl == "identity" else draw(st.booleans()),
        bias=draw(st.booleans()),
        batch_first=draw(st.booleans()),
        head=hd,
        loss=ls,
        seq_len=draw(st.integers(1, max_seq_len)),
        batch=draw(st.integers(1, max_batch)),
        dtype=draw(st.sampled_from(["float64", "float32"])),
    )
    # The identity recurrence is linear: keep its gain below 1 so the states stay O(1).
    max_scale = 1.0 if nl == "identity" else MAX_WEIGHT_SCALE
    return draw(st.builds(ModelCase, config=st.just(cfg), **scales(max_scale, MAX_INPUT_SCALE)))


def _maybe_zero(strategy):
    return st.one_of(st.just(0.0), strategy)


OPTIMIZER_HYPERPARAMETERS = {
    "SGD": lambda: st.fixed_dictionaries(
        {"lr": st.floats(1e-5, 1.0), "momentum": _maybe_zero(st.floats(0.0, 0.99)),
         "dampening": _maybe_zero(st.floats(0.0, 0.5)), "weight_decay": _maybe_zero(st.floats(0.0, 0.1))}
    ).flatmap(lambda h: st.fixed_dictionaries(
        {**{k: st.just(v) for k, v in h.items()},
         "nesterov": st.booleans() if h["momentum"] > 0 and h["dampening"] == 0 else st.just(False)})),
    "RMSprop": lambda: st.fixed_dictionaries(
        {"lr": st.floats(1e-5, 0.1), "alpha": st.floats(0.5, 0.999), "eps": st.sampled_from([1e-8, 1e-6, 1e-3]),
         "weight_decay": _maybe_zero(st.floats(0.0, 0.1)), "momentum": _maybe_zero(st.floats(0.0, 0.99)),
         "centered": st.booleans()}),
    "Adam": lambda: st.fixed_dictionaries(
        {"lr": st.floats(1e-5, 0.1), "betas": st.tuples(st.floats(0.0, 0.99), st.floats(0.001, 0.9999)),
         "eps": st.sampled_from([1e-8, 1e-6, 1e-3]), "weight_decay": _maybe_zero(st.floats(0.0, 0.1)),
         "amsgrad": st.booleans()}),
}


@st.composite
def optimizer_cases(draw, *, max_steps: int = 40):
    """(optimizer name, hyperparameters, number of steps, RNG seed for params and gradients)."""
    name = draw(st.sampled_from(sorted(OPTIMIZER_HYPERPARAMETERS)))
    hyper = draw(OPTIMIZER_HYPERPARAMETERS[name]())
    return name, hyper, draw(st.integers(1, max_steps)), draw(st.integers(0, 2**32 - 1))


def model_comparisons(case: ModelCase) -> list:
    """scratch.model.SequenceModel vs the torch model: the loss, then every gradient."""
    import torch

    from rnn_parity.reference.torch_models import TorchSequenceModel, as_target, torch_loss
    from rnn_parity.reference.torch_ref import load_weights
    from rnn_parity.scratch.model import SequenceModel

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
    mags = {f"grad rnn.{k[5:]}": v for k, v in rnn.bounds(Case(rc), rnn_arrays).items() if k.startswith("grad ")}
    if cfg.head is not None:
        h = np.abs(h_in.detach().numpy())
        dy_abs = np.abs(dy).reshape(-1, dy.shape[-1])
        mags["grad head.weight"] = dy_abs.T @ h.reshape(-1, h.shape[-1])
        mags["grad head.bias"] = dy_abs.sum(axis=0)
    dtype = DTYPES[cfg.dtype]
    out_cmp = [compare("loss", np.array([loss]), np.array([ref_loss.item()]), dtype=dtype)]
    return out_cmp + [
        compare(f"grad {n}", grads[n], ref_grads[n], dtype=dtype, bound=mags[f"grad {n}"]) for n in names
    ]


def assert_model_parity(case: ModelCase) -> list:
    __tracebackhide__ = True
    comparisons = model_comparisons(case)
    failed = [c for c in comparisons if not c.passed]
    if failed:
        lines = [f"{failed[0].tensor} of scratch.model.SequenceModel differs from the torch model",
                 f"case: {case.config.short()}; seed={case.seed}, weight_scale={case.weight_scale:.4g}",
                 format_comparison(failed[0]),
                 causal_order_line(comparisons),
                 f"To reproduce: assert_model_parity({case!r})"]
        raise ParityMismatch("\n".join(lines), comparisons)
    return comparisons

"""The strategies themselves: the conditioning bound the tolerance relies on holds for every
draw, and every edge case the docs promise is actually reached by the parity tests under
the ``ci`` profile (not only drawable in principle).
"""

import numpy as np
import pytest
from hypothesis import given, settings

import rnn_parity.scratch as scratch
from parity_tests.core.strategies import cases
from parity_tests.families import ROWS
from parity_tests.families.rnn import RNN
from parity_tests.families.rnn_cell import RNN_CELL
from parity_tests.properties import run_property
from rnn_parity.reference.elman import rnn_loop_vjp


@given(case=cases(RNN))
def test_every_tanh_pre_activation_is_bounded_by_the_weight_scale(case):
    """core/cases.py: rows of [W_ih | W_hh | b_ih | b_hh] have l1-norm weight_scale and
    |x|, |h| <= 1, so |a| <= weight_scale at every tanh layer, step and direction (and at
    the first step of relu's first layer, where h0 is still in [-1, 1])."""
    cfg, a = case.config, case.materialize()
    tm = (lambda z: z.swapaxes(0, 1)) if cfg.batch_first else (lambda z: z)
    loop = rnn_loop_vjp(cfg.module_kwargs(), a["params"], tm(a["x"]), a["h0"], tm(a["d_output"]), a["d_h_n"])
    for (layer, d), tr in loop.traces.items():
        if cfg.nonlinearity == "tanh":
            pre = tr.a
        elif layer == 0:
            pre = tr.a[-1 if d else 0]
        else:
            continue
        assert np.max(np.abs(pre)) <= case.weight_scale * (1 + 1e-6), (layer, d, float(np.max(np.abs(pre))))


@given(case=cases(RNN_CELL))
def test_every_cell_pre_activation_is_bounded_by_the_weight_scale(case):
    a = case.materialize()
    p = {k: v.astype(np.float64) for k, v in a["params"].items()}
    h = np.zeros((case.config.batch, case.config.hidden_size)) if a["h"] is None else a["h"]
    pre = a["x"] @ p["weight_ih"].T + h @ p["weight_hh"].T + (p["bias_ih"] + p["bias_hh"] if case.config.bias else 0)
    assert np.max(np.abs(pre)) <= case.weight_scale * (1 + 1e-6)


def _spy(base, family):
    """``base`` (scratch's class), noting the features of every configuration it is run on."""
    seen = set()

    class Spy(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.kw = kwargs

        def forward(self, x, h=None, **kw):
            k, p = self.kw, self.params
            batch_first = k.get("batch_first", False)
            T, B = (x.shape[:2] if not batch_first else x.shape[1::-1]) if x.ndim == 3 else (1, x.shape[0])
            seen.update({f"I == H: {k['input_size'] == k['hidden_size']}", f"T = 1: {T == 1}", f"B = 1: {B == 1}",
                         f"bias: {k.get('bias', True)}", f"h0 given: {h is not None}", f"dtype: {x.dtype}",
                         f"batch_first: {batch_first}", f"nonlinearity: {k.get('nonlinearity', 'tanh')}"})
            if k.get("nonlinearity") == "relu":
                w_ih = p["weight_ih_l0" if family is RNN else "weight_ih"]
                x0 = (x[:, 0] if batch_first else x[0]) if family is RNN else x
                seen.add(f"relu at exactly 0: {bool(np.any(x0 @ w_ih.T == 0) and not np.any(w_ih))}")
            return super().forward(x, h, **kw)

    return Spy, seen


PROMISED = ["I == H: True", "T = 1: True", "B = 1: True", "bias: False", "bias: True", "h0 given: False",
            "h0 given: True", "dtype: float32", "dtype: float64", "batch_first: True", "batch_first: False",
            "nonlinearity: relu", "nonlinearity: tanh", "relu at exactly 0: True"]


@pytest.mark.parametrize("family, base", [(RNN, scratch.RNN), (RNN_CELL, scratch.RNNCell)], ids=["rnn", "rnn_cell"])
def test_every_promised_edge_case_is_reached_under_the_ci_profile(family, base):
    spy, seen = _spy(base, family)
    ci = settings(settings.get_profile("ci"), database=None)
    for row in ROWS:
        if row.family == family.name:
            run_property(spy, row, settings=ci)
    promised = [p for p in PROMISED if family is RNN or not p.startswith(("T = 1", "batch_first"))]
    missing = [p for p in promised if p not in seen]
    assert not missing, f"never drawn by the {family.name} rows under the ci profile: {missing}"

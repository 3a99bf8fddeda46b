"""The reference is checked too: the harness's torch reference (``core.runs.reference``, the
VJP every parity test compares with) against finite differences of forward passes only, so
a misconfigured reference cannot make everything pass silently.

tanh only: finite differences need a function that is smooth along the whole step (relu's
kink at 0 breaks central differences; see reference/finite_diff.py).
"""

from dataclasses import replace

import numpy as np
import pytest
import torch
from hypothesis import given

from parity_tests.core.cases import Case
from parity_tests.core.runs import reference
from parity_tests.core.strategies import cases
from parity_tests.families.rnn import RNN, RNNConfig
from rnn_parity.reference.finite_diff import jacobian, vjp_check
from rnn_parity.reference.torch_ref import build


def _forward(cfg):
    def fwd(p):
        params = {k[2:]: v for k, v in p.items() if k.startswith("p:")}
        with torch.no_grad():
            out, h_n = build("RNN", params, **cfg.module_kwargs())(torch.tensor(p["x"]), torch.tensor(p["h0"]))
        return {"output": out.numpy(), "h_n": h_n.numpy()}

    return fwd


def _inputs(a, cfg):
    h0 = a["h0"] if a["h0"] is not None else np.zeros(cfg.state_shape())
    return {"x": a["x"], "h0": h0, **{f"p:{k}": v for k, v in a["params"].items()}}


def _claimed(ref):
    return {"x": ref["dx"], "h0": ref["dh0"], **{f"p:{k[5:]}": v for k, v in ref.items() if k.startswith("grad ")}}


@given(case=cases(RNN, nonlinearity="tanh", dtype="float64", has_h0=True))
def test_reference_vjp_satisfies_the_adjoint_identity(case):
    cfg, a = case.config, case.materialize()
    ref = reference(case, a)
    upstream = {"output": a["d_output"], "h_n": a["d_h_n"]}
    for lhs, rhs, tol in vjp_check(_forward(cfg), _inputs(a, cfg), upstream, _claimed(ref), seed=case.seed % 1000):
        assert abs(lhs - rhs) <= tol, f"<Jv, u> = {lhs!r} but <v, J^T u> = {rhs!r} (allowed {tol:.3g})"


@pytest.mark.parametrize("bidirectional", [False, True])
def test_reference_full_jacobian_matches_finite_differences(bidirectional):
    """Every row of the Jacobian of (output, h_n) w.r.t. (x, h0, params), taken from the
    harness's reference with a unit upstream gradient on one output element at a time,
    against central differences of torch forward passes."""
    cfg = RNNConfig(2, 2, num_layers=2, bidirectional=bidirectional, seq_len=2, batch=1)
    case = Case(cfg, seed=5)
    a = case.materialize()
    inputs = _inputs(a, cfg)
    keys, shapes = list(inputs), [np.shape(v) for v in inputs.values()]
    sizes = [int(np.prod(s)) for s in shapes]
    fwd = _forward(cfg)

    def unflatten(flat):
        parts = np.split(flat, np.cumsum(sizes)[:-1])
        return {k: p.reshape(s) for k, p, s in zip(keys, parts, shapes)}

    def flat_forward(flat):
        out = fwd(unflatten(flat))
        return np.concatenate([out["output"].ravel(), out["h_n"].ravel()])

    x0 = np.concatenate([np.ravel(v) for v in inputs.values()])
    j_fd = jacobian(flat_forward, x0)

    n_out = a["d_output"].size
    rows = []
    for k in range(n_out + a["d_h_n"].size):
        u = np.zeros(n_out + a["d_h_n"].size)
        u[k] = 1.0
        upstream = dict(a, d_output=u[:n_out].reshape(a["d_output"].shape), d_h_n=u[n_out:].reshape(a["d_h_n"].shape))
        claimed = _claimed(reference(case, upstream))
        rows.append(np.concatenate([np.ravel(claimed[key]) for key in keys]))
    j_ref = np.array(rows)
    assert j_fd.shape == j_ref.shape and j_fd.shape[1] == x0.size
    assert np.max(np.abs(j_fd - j_ref)) <= 1e-6 * max(1.0, np.max(np.abs(j_ref)))


def test_a_misconfigured_reference_is_caught():
    """A VJP taken for the wrong nonlinearity (relu weights loaded into a tanh check)."""
    cfg = RNNConfig(3, 4, seq_len=4, batch=2)
    a = Case(cfg, seed=6).materialize()
    wrong = reference(Case(replace(cfg, nonlinearity="relu"), seed=6), a)
    checks = vjp_check(_forward(cfg), _inputs(a, cfg), {"output": a["d_output"], "h_n": a["d_h_n"]}, _claimed(wrong))
    assert any(abs(lhs - rhs) > tol for lhs, rhs, tol in checks)

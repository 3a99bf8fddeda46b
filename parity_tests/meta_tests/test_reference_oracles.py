"""The reference is checked too: torch's autograd against finite differences (forward
passes only), so a misconfigured reference cannot make everything pass silently.

tanh only: finite differences need a function that is smooth along the whole step (relu's
kink at 0 breaks central differences; see reference/finite_diff.py).
"""

import numpy as np
import pytest
import torch
from hypothesis import given

from parity_tests.strategies import rnn_cases
from reference import build_torch_rnn, torch_rnn_vjp
from reference.finite_diff import jacobian, vjp_check


def _forward(cfg):
    def fwd(p):
        params = {k[2:]: v for k, v in p.items() if k.startswith("p:")}
        with torch.no_grad():
            out, h_n = build_torch_rnn(params, **cfg.module_kwargs())(torch.tensor(p["x"]), torch.tensor(p["h0"]))
        return {"output": out.numpy(), "h_n": h_n.numpy()}

    return fwd


def _inputs(a, cfg):
    h0 = a["h0"] if a["h0"] is not None else np.zeros(cfg.state_shape())
    return {"x": a["x"], "h0": h0, **{f"p:{k}": v for k, v in a["params"].items()}}


def _claimed(ref):
    return {"x": ref.dx, "h0": ref.dh0, **{f"p:{k}": v for k, v in ref.grads.items()}}


@given(case=rnn_cases(nonlinearity="tanh", dtype="float64", has_h0=True))
def test_reference_vjp_satisfies_the_adjoint_identity(case):
    cfg, a = case.config, case.materialize()
    ref = torch_rnn_vjp(cfg.module_kwargs(), a["params"], a["x"], a["h0"], a["d_output"], a["d_h_n"])
    upstream = {"output": a["d_output"], "h_n": a["d_h_n"]}
    for lhs, rhs, tol in vjp_check(_forward(cfg), _inputs(a, cfg), upstream, _claimed(ref), seed=case.seed % 1000):
        assert abs(lhs - rhs) <= tol, f"<Jv, u> = {lhs!r} but <v, J^T u> = {rhs!r} (allowed {tol:.3g})"


@pytest.mark.parametrize("bidirectional", [False, True])
def test_reference_full_jacobian_matches_finite_differences(bidirectional):
    from parity_tests.cases import RNNCase, RNNConfig

    cfg = RNNConfig(2, 2, num_layers=2, bidirectional=bidirectional, seq_len=2, batch=1)
    a = RNNCase(cfg, seed=5).materialize()
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

    def torch_map(flat):
        p = {k: t.reshape(s) for k, t, s in zip(keys, torch.split(flat, sizes), shapes)}
        rnn = build_torch_rnn(None, **cfg.module_kwargs())
        params = {k[2:]: v for k, v in p.items() if k.startswith("p:")}
        out, h_n = torch.func.functional_call(rnn, params, (p["x"], p["h0"]))
        return torch.cat([out.reshape(-1), h_n.reshape(-1)])

    j_ad = torch.autograd.functional.jacobian(torch_map, torch.tensor(x0)).numpy()
    assert j_fd.shape == j_ad.shape and j_fd.shape[1] == x0.size
    assert np.max(np.abs(j_fd - j_ad)) <= 1e-6 * max(1.0, np.max(np.abs(j_ad)))


def test_a_misconfigured_reference_is_caught():
    """A VJP taken for the wrong nonlinearity (relu weights loaded into a tanh check)."""
    from parity_tests.cases import RNNCase, RNNConfig

    cfg = RNNConfig(3, 4, seq_len=4, batch=2)
    a = RNNCase(cfg, seed=6).materialize()
    wrong = torch_rnn_vjp(dict(cfg.module_kwargs(), nonlinearity="relu"), a["params"], a["x"], a["h0"],
                          a["d_output"], a["d_h_n"])
    checks = vjp_check(_forward(cfg), _inputs(a, cfg), {"output": a["d_output"], "h_n": a["d_h_n"]}, _claimed(wrong))
    assert any(abs(lhs - rhs) > tol for lhs, rhs, tol in checks)

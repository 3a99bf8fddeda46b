"""scratch.optim against torch.optim, after every step of many.

Tolerance: the parameters after k steps are p_0 - sum_j dp_j, so their rounding error is
bounded by the terms, M = |p_0| + sum_j |dp_j| (elementwise; updates of opposite signs
cancel in p but not in M), times a few eps per step for the state (m, v, momentum), whose
errors decay with beta < 1. The budget is the suite's 1000 eps of max M.
"""

import numpy as np
import torch
from hypothesis import example, given

from parity_tests.core.compare import compare
from parity_tests.families.sequence_model import optimizer_cases
from rnn_parity.scratch import optim

SHAPES = {"weight": (3, 2), "bias": (3,)}


def run_both(name, hyper, steps, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    p0 = {k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()}
    # Gradients of varied sizes, including some far smaller than the parameters.
    grads = [{k: (rng.standard_normal(s) * 10.0 ** rng.uniform(-3, 1)).astype(dtype) for k, s in SHAPES.items()}
             for _ in range(steps)]
    mine = dict(p0)
    opt = getattr(optim, name)(mine, **hyper)
    tp = {k: torch.tensor(v.astype(np.float64), requires_grad=True) for k, v in p0.items()}
    topt = getattr(torch.optim, name)(list(tp.values()), **hyper)
    bound = {k: np.abs(v.astype(np.float64)) for k, v in p0.items()}
    for k_step, g in enumerate(grads, 1):
        before = {k: v.detach().clone().numpy() for k, v in tp.items()}
        opt.step(g)
        for k, t in tp.items():
            t.grad = torch.tensor(g[k].astype(np.float64))
        topt.step()
        for k, t in tp.items():
            ref = t.detach().numpy()
            bound[k] = bound[k] + np.abs(ref - before[k])
            assert mine[k].dtype == dtype
            c = compare(k, mine[k], ref, dtype=dtype, bound=bound[k])
            assert c.passed, (
                f"{name}({hyper}) step {k_step}: {k} differs from torch.optim by {c.max_abs:.3g} "
                f"(normwise {c.normwise:.3g}, allowed {c.rtol:.3g}) at {c.abs_index}"
            )


@given(case=optimizer_cases())
@example(case=("Adam", {"lr": 0.001, "betas": (0.9, 0.009), "eps": 1e-8, "weight_decay": 0.0, "amsgrad": True}, 40, 0))  # seed 000
@example(case=("RMSprop", {"lr": 0.001, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0, "centered": False}, 40, 1))  # seed 002
@example(case=("SGD", {"lr": 1e-5, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False}, 40, 2))  # seed 002
@example(case=("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.0, "weight_decay": 0.01, "nesterov": True}, 40, 3))
def test_optimizer_matches_torch_optim_every_step(case):
    run_both(*case)


@given(case=optimizer_cases(max_steps=10))
def test_optimizer_keeps_float32(case):
    """float32 parameters stay float32 and still follow torch's float64 trajectory."""
    run_both(*case, dtype=np.float32)


def test_optimizer_replaces_arrays_never_writes_them():
    params = {"w": np.ones(3)}
    held = params["w"]
    optim.Adam(params, lr=0.1).step({"w": np.ones(3)})
    assert np.all(held == 1.0) and params["w"] is not held

"""Finite-difference oracle: central differences of a scalar function along random directions.

For a loss f(params) and a claimed gradient g, along a unit direction v (random, over all
parameters at once):

    (f(p + h v) - f(p - h v)) / (2 h)  =  <g, v>  +  h^2/6 f'''(p)[v,v,v]  +  O(eps |f| / h)

Step and tolerance. With h = 1e-6 the truncation term is about 1e-13 |f'''| and the
rounding term about eps |f| / h ~ 2e-10 |f|. The models checked here are polynomials or
compositions of tanh of degree at most ~T = 10 in each weight, so |f'''| is at most a few
thousand times the size of f and the gradient; the check allows 1e-6 of
max(|<g, v>|, ||g||, |f|): four orders of magnitude above both terms, and still five
below a gradient that is wrong by 10 %.

Only for functions differentiable along the whole step: at relu's kink (a = 0 exactly) a
central difference returns the mean of the one-sided slopes, while torch (and every
implementation here) defines relu'(0) = 0.
"""

from __future__ import annotations

import numpy as np

STEP = 1e-6
RTOL = 1e-6


def directional_check(f, params: dict, grads: dict, *, seed: int = 0, directions: int = 3):
    """Return a list of (finite difference, <g, v>, allowed error) for random unit directions.

    ``f(params) -> float`` must not modify ``params``; everything is done in float64.
    This is ``vjp_check`` for a scalar output with upstream u = 1 (|<g, v>| <= ||g||, so
    the allowed error is the same 1e-6 of max(||g||, |f|)).
    """
    checks = vjp_check(lambda p: {"f": np.array(f(p))}, params, {"f": np.array(1.0)}, grads,
                       seed=seed, directions=directions)
    return checks


# ---------------------------------------------------------------------------------------
# Vector-Jacobian products of a map with several inputs and outputs.
# ---------------------------------------------------------------------------------------
def vjp_check(forward, inputs: dict, upstream: dict, vjp: dict, *, seed: int = 0, directions: int = 3):
    """Check a claimed vector-Jacobian product J^T u against forward evaluations only.

    ``forward(inputs) -> dict of output arrays``; ``upstream`` u has the outputs' keys and
    shapes, ``vjp`` (the claimed J^T u) the inputs'. For random unit directions v over all
    inputs, the adjoint identity <J v, u> = <v, J^T u> must hold, where J v is a central
    difference (two forward passes per direction):

        <(F(p + h v) - F(p - h v)) / 2h, u>  vs  <v, J^T u>

    Error of the left side: truncation h^2/6 |<F'''[v,v,v], u>| plus rounding about
    eps |<|F|, |u|>| / h. With h = 1e-6 both stay below 1e-9 of ||u|| max|F| for the smooth,
    O(1) maps here; the allowed error is RTOL = 1e-6 of max(||J^T u||, ||u|| max|F|), three
    orders above that and still far below a wrong gradient. Returns (lhs, rhs, allowed)
    per direction.
    """
    rng = np.random.default_rng(seed)
    p = {k: np.asarray(v, dtype=np.float64) for k, v in inputs.items()}
    u = {k: np.asarray(v, dtype=np.float64) for k, v in upstream.items()}
    f0 = forward(p)
    fmax = max(float(np.max(np.abs(a))) for a in f0.values())
    unorm = np.sqrt(sum(float(np.sum(a * a)) for a in u.values()))
    vjp_norm = np.sqrt(sum(float(np.sum(np.asarray(vjp[k], dtype=np.float64) ** 2)) for k in p))
    out = []
    for _ in range(directions):
        v = {k: rng.standard_normal(a.shape) for k, a in p.items()}
        norm = np.sqrt(sum(float(np.sum(a * a)) for a in v.values()))
        v = {k: a / norm for k, a in v.items()}
        plus = forward({k: p[k] + STEP * v[k] for k in p})
        minus = forward({k: p[k] - STEP * v[k] for k in p})
        lhs = sum(float(np.sum((plus[k] - minus[k]) / (2 * STEP) * u[k])) for k in u)
        rhs = sum(float(np.sum(v[k] * np.asarray(vjp[k], dtype=np.float64))) for k in p)
        out.append((lhs, rhs, RTOL * max(vjp_norm, unorm * fmax)))
    return out


def jacobian(forward_flat, x0: np.ndarray) -> np.ndarray:
    """Full Jacobian of a flat map R^n -> R^m by central differences, one column per input
    (2n forward passes; for small shapes). Same step and error terms as above, per entry."""
    x0 = np.asarray(x0, dtype=np.float64)
    cols = []
    for i in range(x0.size):
        e = np.zeros_like(x0)
        e[i] = STEP
        cols.append((np.asarray(forward_flat(x0 + e)) - np.asarray(forward_flat(x0 - e))) / (2 * STEP))
    return np.stack(cols, axis=1)

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
    """
    rng = np.random.default_rng(seed)
    p64 = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    g64 = {k: np.asarray(grads[k], dtype=np.float64) for k in params}
    gnorm = np.sqrt(sum(float(np.sum(g * g)) for g in g64.values()))
    f0 = abs(f(p64))
    results = []
    for _ in range(directions):
        v = {k: rng.standard_normal(a.shape) for k, a in p64.items()}
        norm = np.sqrt(sum(float(np.sum(a * a)) for a in v.values()))
        v = {k: a / norm for k, a in v.items()}
        plus = f({k: p64[k] + STEP * v[k] for k in p64})
        minus = f({k: p64[k] - STEP * v[k] for k in p64})
        fd = (plus - minus) / (2 * STEP)
        analytic = sum(float(np.sum(g64[k] * v[k])) for k in p64)
        results.append((fd, analytic, RTOL * max(abs(analytic), gnorm, f0)))
    return results

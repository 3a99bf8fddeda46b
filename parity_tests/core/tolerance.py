"""The one tolerance rule. Every comparison in rnn-parity (layer, cell, diagnosis, report,
metamorphic tests) is judged by ``allowed_error`` below, and nothing else.

    pass  iff  max|actual - expected|  <=  1000 * eps(dtype) * max( max|expected|, max M )

in words: normwise (infinity norm over the whole tensor), 1000 units of roundoff of the
precision the case asked for, relative to the larger of the result and its *running error
bound* M.

Why each part (the README's "Tolerance policy" points here):

* **eps(dtype).** The reference is torch in float64 on exactly the implementation's inputs
  (float32 inputs widen to float64 exactly), so for a float32 case the difference is the
  implementation's own float32 rounding, for a float64 case both sides' float64 rounding.
* **1000.** First-order rounding analysis gives |computed - exact| <= c * eps * M with c a
  small multiple of the longest chain of operations (a few dozen here: T <= 32 steps, three
  layers, a reduction over the batch). 1000 leaves an order of magnitude of headroom over
  that and still sits many orders below any real mistake: a wrong derivative or a missing
  term errs by O(1) relative to M.
* **normwise, not elementwise.** An element that is tiny by cancellation carries the
  absolute rounding error of its neighbours; an elementwise relative test flags it falsely.
* **M, the running error bound** (Wilkinson's running error analysis; Higham, *Accuracy
  and Stability of Numerical Algorithms*, 3.1). A computed sum of products sum_i p_i q_i
  errs by at most gamma_n * sum_i |p_i||q_i|, and when p and q are themselves computed
  their own errors (bounded the same way, M_p and M_q) enter as M_p |q| + |p| M_q.
  Carrying M along the whole forward and backward graph gives a bound for every result.
  M >= |value| everywhere, and M is much larger than |value| exactly where terms cancel,
  which is where a tolerance relative to |value| alone raises false alarms. Each family's
  reference computes M for every tensor it compares with the per-operation rules below
  (``reference/elman.py`` for the RNN and the RNNCell, which is its one-step case).
* **Structural zeros.** A tensor whose reference and bound are both exactly zero (zero
  weights, zero inputs) requires an exactly-zero actual.

Per-operation rules (inputs exact: M = |input|):

    matrix product / sum   M(sum_i p_i q_i) = sum_i (M_p_i |q_i| + |p_i| M_q_i)
    nonlinearity phi       M_h  = |phi'(a)| M_a + [phi rounds] |h|
    its derivative         M_da = M_dh |phi'(a)| + |dh| * M(phi'(a))

``[phi rounds]``: tanh is computed with rounding, so its own error eps |h| enters;
relu = max(a, 0) and the identity are exact in floating point, so they add nothing (this
is where the layer and the cell rule once disagreed; the exact-op reasoning settles it).
``M(phi'(a))``: tanh' = 1 - h^2 is computed from a computed h, so it errs by 2|h| M_h; relu'
= [a > 0] and identity' = 1 are exact, so 0. This is what keeps a correct implementation in
tanh's saturation from a false alarm: there 1 - h^2 loses digits, eps * cosh(a)^2 relative.

What keeps the test strong: the strategies bound every pre-activation (``|a| <=
weight_scale <= 3``, ``core/cases.py``), so tanh' >= 0.01 and M stays within about two
orders of the result, while a bug stands many orders above the budget.
"""

from __future__ import annotations

import numpy as np

ULPS_BUDGET = 1000

# Does phi(a) itself round? (see "[phi rounds]" above)
PHI_ROUNDS = {"tanh": True, "relu": False, "identity": False}


def rtol_for(dtype) -> float:
    """The normwise relative tolerance for results computed in ``dtype``: 1000 eps."""
    return ULPS_BUDGET * float(np.finfo(np.dtype(dtype)).eps)


def allowed_error(expected, bound, dtype) -> tuple[float, float]:
    """THE rule: ``(allowed absolute error, scale)`` for a tensor whose float64 reference is
    ``expected`` and whose running error bound is ``bound`` (an array, a number or None),
    computed in ``dtype``. ``scale = max(max|expected|, max|bound|)``."""
    e = np.asarray(expected)
    scale = float(np.max(np.abs(e))) if e.size else 0.0
    if bound is not None and np.size(bound):
        scale = max(scale, float(np.max(np.abs(bound))))
    return rtol_for(dtype) * scale, scale


# ---------------------------------------------------------------------------------------
# The per-operation rules, shared by every family's bound computation.
# ---------------------------------------------------------------------------------------
def phi_bound(nonlinearity: str, dphi: np.ndarray, h: np.ndarray, m_a: np.ndarray) -> np.ndarray:
    """M_h = |phi'(a)| M_a + [phi rounds] |h|."""
    m = np.abs(dphi) * m_a
    return m + np.abs(h) if PHI_ROUNDS[nonlinearity] else m


def dphi_bound(nonlinearity: str, h: np.ndarray, m_h: np.ndarray):
    """M(phi'(a)): the error bound of the derivative as implementations compute it (from a
    computed h for tanh); 0 for the exact derivatives of relu and identity."""
    return 2 * np.abs(h) * m_h if nonlinearity == "tanh" else 0.0

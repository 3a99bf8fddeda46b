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
    nonlinearity phi       M_h  = |phi'(a)| M_a + r_phi [M_a > 0]
    its derivative         M_da = M_dh |phi'(a)| + |dh| * M(phi'(a))
                           M(phi'(a)) = 2 |h| M_h + r'_phi [M_a > 0]      (tanh; 0 otherwise)

**The rounding of one evaluation of phi is ABSOLUTE, not relative** (``r_phi``,
``PHI_ROUNDING``). The error of a computed h = phi(a^) has two parts: the error M_a of its
argument, carried by the slope (|phi'(a)| M_a, exact for every formula to first order), and
the rounding of the evaluation itself at a^. Only ``np.tanh`` (a correctly rounded libm
tanh) makes the second part relative, eps |h|. Every other common way of writing tanh goes
through exp(+-a) ~ 1, which rounds by eps *absolutely*, and that absolute error survives
the cancellation that makes h small:

    (exp(a) - exp(-a)) / (exp(a) + exp(-a)):  numerator e^a (1+d1) - e^-a (1+d2) errs by
        e^a |d1| + e^-a |d2| <= (e^a + e^-a) u, over the denominator e^a + e^-a: <= u
        absolute, plus 3u |h| for the subtraction, division and denominator.
    2 sigmoid(2a) - 1:  s = 1/(1 + e^-2a) errs by <= 3u s (exp, add, divide); 2s - 1 is
        exact when 2s is in [1/2, 2] (Sterbenz) and rounds by u |h| otherwise:
        <= 6u s + u |h| <= 7u absolute.
    1 - 2/(exp(2a) + 1):  q = 2/(e^2a + 1) in (0, 2) errs by <= 3u q <= 6u; 1 - q rounds
        by u |h|: <= 7u absolute.

with u = eps/2 and |d_i| <= u. So with a ~ 1e-4 the formula errs by ~1e-16, i.e. 1e-12 of
|h| (measured: at most 1.0, 1.5 and 1.5 eps absolute for the three over a in [-3, 3] and
tiny a, against 0.5 eps |h| for ``np.tanh``, in float64 and float32 alike). The old rule
charged eps |h| per evaluation, a term that vanishes with the activations: a correct
exp-written tanh failed at weight scale 1/64, input scale 1/128 (3.8e-17 against
1.86e-17 allowed, the ``dev`` profile) and passed at ordinary scales. Since |tanh| < 1, a
few eps absolute is ``r_phi = 1`` in units of M (the constant, like gamma_n's n in a sum,
is in the 1000). relu = max(a, 0) (however written: ``np.maximum``, ``a * (a > 0)``,
``np.where``) and the identity are exact, ``r_phi = 0``. ``[M_a > 0]``: where M_a = 0 the
argument is exactly 0 on every side (every term of the sum is a zero weight or a zero
input) and every formula gives tanh(0) = 0 exactly (exp(0) = 1, sigmoid(0) = 1/2,
2/(1 + 1) = 1), so structural zeros stay exact.

**The derivative** (``r'_phi``, ``DPHI_ROUNDING``). tanh' is computed from a computed h or
a^: ``1 - h**2`` errs by 2|h| times h's error plus the rounding of the square and the
subtraction, <= 2u absolute (1 - h^2 <= 1); ``1 - tanh(a)**2`` the same with tanh(a^),
whose error is bounded by M_h as well; ``1/cosh(a)**2`` by 2|h| tanh'(a) M_a plus 3u
relative to tanh' <= 1. Hence M(tanh') = 2|h| M_h + 1 (measured: at most 2.5 eps beyond
the 2|h| part, both precisions). The 2|h| M_h part is what keeps a correct implementation
in tanh's saturation from a false alarm: there 1 - h^2 loses digits, eps * cosh(a)^2
relative. relu' = [a > 0] and identity' = 1 are exact, so 0.

What keeps the test strong. First, the strategies bound every pre-activation (``|a| <=
weight_scale <= 3``, ``core/cases.py``), so tanh' >= 0.01 and, at ordinary scales, M stays
within about two orders of the result. Second, where the activations are tiny the absolute
term makes M ~ 1 (not ~|h|), so the budget of a tanh output, and of a gradient read through
h (grad weight_hh, grad weight_ih of upper layers), is 1000 eps absolute: 2.2e-13 in
float64, against a largest |h| of 1e-6 to 1e-4 at the smallest nonzero scales (1e-3): a
bug, which errs by O(1) relative, still stands six to nine orders above it (measured: the
planted bugs of ``planted/bugs.py`` on a 2-layer bidirectional RNN at weight and input
scale 1e-3 exceed the budget by 5e8 to 4e12). The price is in float32 at small weight
scales: 1000 eps32 = 1.2e-4 absolute is what a float32 exp-written tanh honestly needs
there (its h errs by ~1e-7 absolute, 1e-3 of |h| ~ 1e-4), and a bug that shows only in h
or in what is read through it (the reverse output left unreversed, no gradient to the
lower layer, through grad weight_hh_l0) exceeds it by 80 to 200x at weight scale 0.1, 9 to
30x at 1e-2 and only 1 to 3x at 1e-3 (bugs in the backward recursion itself keep 700x and
more). There the float64 rows, which draw the same configurations, carry the power.
``meta_tests/test_variants.py`` runs correct variants (tanh via exp, via sigmoid, via
1 - 2/(e^2a + 1); every derivative form; other product layouts, batched or per-step
products, other summation orders) on every row, and the tiny-scale case that failed as a
regression test; ``meta_tests/test_planted.py`` shows the planted bugs still rejected.
"""

from __future__ import annotations

import numpy as np

ULPS_BUDGET = 1000

# The absolute rounding of one evaluation of phi, and of phi', in units of M (see "The
# rounding of one evaluation of phi is ABSOLUTE" and "The derivative" above): a few eps
# absolute for every common way of writing tanh and tanh'; relu, the identity and their
# derivatives are exact.
PHI_ROUNDING = {"tanh": 1.0, "relu": 0.0, "identity": 0.0}
DPHI_ROUNDING = {"tanh": 1.0, "relu": 0.0, "identity": 0.0}


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
    """M_h = |phi'(a)| M_a + r_phi [M_a > 0]: the argument's error carried by the slope, plus
    the evaluation's own rounding, absolute (``h`` is kept for the signature: |h| <= 1
    for tanh, so the absolute term covers what eps |h| covered)."""
    m_a = np.asarray(m_a, dtype=np.float64)
    return np.abs(dphi) * m_a + PHI_ROUNDING[nonlinearity] * (m_a > 0)


def dphi_bound(nonlinearity: str, h: np.ndarray, m_h: np.ndarray):
    """M(phi'(a)): the error bound of the derivative as implementations compute it (from a
    computed h or a): 2 |h| M_h + r'_phi [M_h > 0] for tanh (M_h > 0 exactly where
    M_a > 0); 0 for the exact derivatives of relu and identity."""
    if nonlinearity != "tanh":
        return 0.0
    m_h = np.asarray(m_h, dtype=np.float64)
    return 2 * np.abs(h) * m_h + DPHI_ROUNDING[nonlinearity] * (m_h > 0)

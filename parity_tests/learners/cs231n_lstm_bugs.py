"""Classic mistakes in a CS231n LSTM, one module-like object each (``BUGS[name]`` has
``lstm_forward`` and ``lstm_backward``; ``adapt(BUGS[name], "cs231n", family="lstm")`` puts it
under the contract). Each is a line or two changed in ``cs231n_lstm``'s backward or (the
``FORWARD`` ones) its step forward, as students write them; found by newcomer runs, whose
suspects said "none" before the gated diagnosis learned them. ``SUSPECT[name]`` is the
suspect the diagnosis must name first.
"""

from types import SimpleNamespace

import numpy as np

from .cs231n_lstm import sigmoid


def _step_forward(x, prev_h, prev_c, Wx, Wh, b, bug):
    H = prev_h.shape[1]
    a = x.dot(Wx) + prev_h.dot(Wh) + b
    i, f = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H])
    if bug == "forward_gates_ifgo":  # sliced in torch's order, while the backward stacks i, f, o, g
        g, o = np.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
    else:
        o, g = sigmoid(a[:, 2 * H:3 * H]), (sigmoid if bug == "g_sigmoid_forward" else np.tanh)(a[:, 3 * H:])
    next_c = f * prev_c + i * g
    next_h = o * (next_c if bug == "h_without_tanh_forward" else np.tanh(next_c))
    return next_h, next_c, (x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c)


def _forward(bug):
    def lstm_forward(x, h0, Wx, Wh, b):
        N, T, D = x.shape
        h = np.zeros((N, T, h0.shape[1]))
        prev_h, prev_c = h0, np.zeros_like(h0)
        cache = []
        for t in range(T):
            prev_h, prev_c, step_cache = _step_forward(x[:, t, :], prev_h, prev_c, Wx, Wh, b, bug)
            h[:, t, :] = prev_h
            cache.append(step_cache)
        return h, cache

    return lstm_forward


def _step_backward(dnext_h, dnext_c, cache, bug):
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c = cache
    tc = np.tanh(next_c)
    dc_in = dnext_c  # from the step after alone
    dnext_c = dnext_c + dnext_h * o * (1 - tc ** 2)
    dc_gates = dc_in if bug == "gates_without_dh_path" else dnext_c  # deeplearning.ai's early erratum
    di, df, do, dg = dc_gates * g, dc_gates * prev_c, dnext_h * tc, dc_gates * i
    dprev_c = dnext_c if bug == "dprev_c_without_f" else dnext_c * f
    da_i = di if bug == "no_sigmoid_prime_i" else di * i * (1 - i)
    da_o = do if bug == "no_sigmoid_prime_o" else do * o * (1 - o)
    da_g = dg * g * (1 - g) if bug == "dg_as_sigmoid" else dg * (1 - g) if bug == "dg_unsquared" else dg * (1 - g ** 2)
    if bug == "backward_gates_ifgo":  # stacked in torch's order, the forward sliced i, f, o, g
        da = np.hstack((da_i, df * f * (1 - f), da_g, da_o))
    else:
        da = np.hstack((da_i, df * f * (1 - f), da_o, da_g))
    h_for_dWh = o * tc if bug == "dWh_from_next_h" else prev_h
    return da.dot(Wx.T), da.dot(Wh.T), dprev_c, x.T.dot(da), h_for_dWh.T.dot(da), da.sum(axis=0)


def _backward(bug):
    def lstm_backward(dh, cache):
        x = cache[0][0]
        N, T, H = dh.shape
        dx = np.zeros((N, T, x.shape[1]))
        dWx, dWh, db = np.zeros((x.shape[1], 4 * H)), np.zeros((H, 4 * H)), np.zeros(4 * H)
        dprev_h, dprev_c = np.zeros((N, H)), np.zeros((N, H))
        for t in reversed(range(T)):
            upstream = dh[:, t, :] if bug == "dh_not_added" else dh[:, t, :] + dprev_h
            dx[:, t, :], dprev_h, dprev_c, dWx_t, dWh_t, db_t = _step_backward(upstream, dprev_c, cache[t], bug)
            if bug == "overwrite_dWx":
                dWx = dWx_t
            else:
                dWx += dWx_t
            dWh += dWh_t
            db += db_t
        return dx, dprev_h, dWx, dWh, db

    return lstm_backward


SUSPECT = {
    "dprev_c_without_f": "cell state's gradient carried back without the forget gate (dc_(t-1) = dc_t)",
    "no_sigmoid_prime_i": "input gate's sigmoid' missing (da_i = dL/dc * g)",
    "no_sigmoid_prime_o": "output gate's sigmoid' missing (da_o = dL/dh * tanh(c))",
    "dg_as_sigmoid": "tanh' on the candidate g taken as sigmoid's, g (1 - g)",
    "dg_unsquared": "tanh' on the candidate g taken as 1 - g (the square forgotten)",
    "gates_without_dh_path": "the gates' gradients use dL/dc from the step after alone (the part through h_t "
                             "left out)",
    "dWh_from_next_h": "dW_hh from h_t instead of h_(t-1)",
    "dh_not_added": "the gradient from the step after not added to dh (only d_output_t reaches step t)",
    "overwrite_dWx": "dW_ih overwritten at each step, not summed over time (dW_ih = ..., not +=)",
}

# In the step forward, the backward as the course writes it (computing tanh(next_c) itself).
FORWARD = {
    "g_sigmoid_forward": "candidate g computed with sigmoid instead of tanh (forward), backward with tanh's "
                         "derivative",
    "h_without_tanh_forward": "tanh(c) left out of h in forward (h = o * c), backward with torch's formulas",
    "forward_gates_ifgo": "gate order read wrong in forward only (o and g swapped)",
}
SUSPECT.update(FORWARD)
SUSPECT["backward_gates_ifgo"] = "gradients stacked in the wrong gate order in backward (o and g swapped)"

BUGS = {name: SimpleNamespace(__name__=f"cs231n_lstm_bugs.{name}", lstm_forward=_forward(name),
                              lstm_backward=_backward(name)) for name in SUSPECT}

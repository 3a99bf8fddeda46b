"""``cs231n_lstm`` with the gate blocks read in torch's order i, f, g, o instead of CS231n's i,
f, o, g (a student who followed torch's documentation, not the assignment's): consistent in
forward and backward, and still not the model the assignment specifies. The harness must
reject it and say which blocks are swapped, in the course's terms.

    rnn-parity check --lstm-impl parity_tests.learners.cs231n_lstm_gates_ifgo --convention cs231n
"""

import numpy as np

from . import cs231n_lstm as _course


def _ifgo(w):
    """The assignment's column blocks i, f, o, g as this student reads them: i, f, g, o."""
    H = w.shape[-1] // 4
    return np.concatenate([w[..., :2 * H], w[..., 3 * H:], w[..., 2 * H:3 * H]], axis=-1)


def lstm_forward(x, h0, Wx, Wh, b):
    return _course.lstm_forward(x, h0, _ifgo(Wx), _ifgo(Wh), _ifgo(b))


def lstm_backward(dh, cache):
    dx, dh0, dWx, dWh, db = _course.lstm_backward(dh, cache)
    return dx, dh0, _ifgo(dWx), _ifgo(dWh), _ifgo(db)  # the swap is its own inverse

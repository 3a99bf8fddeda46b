"""An LSTM written as deeplearning.ai's "Building your Recurrent Neural Network - Step by Step"
(course 5, week 1) writes it, correct: a module of functions, examples in columns, four weight
matrices acting on the concatenation [a_prev; xt], the cell state starting from zero.

    concat = [a_prev; xt]  (n_a + n_x, m)
    ft = sigmoid(Wf concat + bf), it = sigmoid(Wi concat + bi), cct = tanh(Wc concat + bc),
    ot = sigmoid(Wo concat + bo);  c_next = ft * c_prev + it * cct;  a_next = ot * tanh(c_next)
    yt_pred = softmax(Wy a_next + by)   (not compared: the adapter passes zeros)

    rnn-parity check --lstm-impl parity_tests.learners.dlai_lstm --convention columns

``dlai_lstm_da_prev_dropped`` has the mistake an early version of the notebook shipped.
"""

import numpy as np


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def softmax(x):
    e_x = np.exp(x - np.max(x, axis=0, keepdims=True))
    return e_x / e_x.sum(axis=0, keepdims=True)


def lstm_cell_forward(xt, a_prev, c_prev, parameters):
    Wf, bf, Wi, bi = parameters["Wf"], parameters["bf"], parameters["Wi"], parameters["bi"]
    Wc, bc, Wo, bo = parameters["Wc"], parameters["bc"], parameters["Wo"], parameters["bo"]
    Wy, by = parameters["Wy"], parameters["by"]
    concat = np.concatenate((a_prev, xt), axis=0)
    ft = sigmoid(np.dot(Wf, concat) + bf)
    it = sigmoid(np.dot(Wi, concat) + bi)
    cct = np.tanh(np.dot(Wc, concat) + bc)
    c_next = ft * c_prev + it * cct
    ot = sigmoid(np.dot(Wo, concat) + bo)
    a_next = ot * np.tanh(c_next)
    yt_pred = softmax(np.dot(Wy, a_next) + by)
    cache = (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters)
    return a_next, c_next, yt_pred, cache


def lstm_forward(x, a0, parameters):
    caches = []
    n_x, m, T_x = x.shape
    n_y, n_a = parameters["Wy"].shape
    a = np.zeros((n_a, m, T_x))
    c = np.zeros((n_a, m, T_x))
    y = np.zeros((n_y, m, T_x))
    a_next = a0
    c_next = np.zeros(a_next.shape)
    for t in range(T_x):
        a_next, c_next, yt, cache = lstm_cell_forward(x[:, :, t], a_next, c_next, parameters)
        a[:, :, t] = a_next
        c[:, :, t] = c_next
        y[:, :, t] = yt
        caches.append(cache)
    caches = (caches, x)
    return a, y, c, caches


def lstm_cell_backward(da_next, dc_next, cache):
    (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters) = cache
    n_a = a_next.shape[0]
    tc = np.tanh(c_next)
    dc = dc_next + ot * (1 - tc ** 2) * da_next
    dot = da_next * tc * ot * (1 - ot)
    dcct = dc * it * (1 - cct ** 2)
    dit = dc * cct * it * (1 - it)
    dft = dc * c_prev * ft * (1 - ft)
    concat = np.concatenate((a_prev, xt), axis=0)
    grads = {}
    for name, d in (("f", dft), ("i", dit), ("c", dcct), ("o", dot)):
        grads["dW" + name] = np.dot(d, concat.T)
        grads["db" + name] = np.sum(d, axis=1, keepdims=True)
    W = {k: parameters["W" + k] for k in "fico"}
    d_concat = sum(np.dot(W[k].T, d) for k, d in (("f", dft), ("i", dit), ("c", dcct), ("o", dot)))
    grads["da_prev"] = d_concat[:n_a]
    grads["dxt"] = d_concat[n_a:]
    grads["dc_prev"] = dc * ft
    return grads


def lstm_backward(da, caches):
    (caches, x) = caches
    n_a, m, T_x = da.shape
    n_x = x.shape[0]
    dx = np.zeros((n_x, m, T_x))
    da_prevt = np.zeros((n_a, m))
    dc_prevt = np.zeros((n_a, m))
    total = {f"d{w}{k}": np.zeros((n_a, n_a + n_x) if w == "W" else (n_a, 1)) for w in "Wb" for k in "fico"}
    for t in reversed(range(T_x)):
        gradients = lstm_cell_backward(da[:, :, t] + da_prevt, dc_prevt, caches[t])
        da_prevt, dc_prevt = gradients["da_prev"], gradients["dc_prev"]
        dx[:, :, t] = gradients["dxt"]
        for k in total:
            total[k] += gradients[k]
    return {"dx": dx, "da0": da_prevt, **total}

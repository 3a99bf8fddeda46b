"""SGD, RMSprop and Adam (with amsgrad), each exactly torch.optim's update rule.

An optimizer holds the model's ``params`` dict and replaces its arrays with updated ones at
each ``step(grads)`` (it never writes into an array a caller may hold). The rules below are
torch's documented algorithms, in torch's order of operations; ``t`` counts steps from 1.

SGD      g <- g + wd p;  if momentum: b <- g (t = 1), else mu b + (1 - dampening) g;
         g <- g + mu b (nesterov) or b;  p <- p - lr g
RMSprop  g <- g + wd p;  v <- alpha v + (1 - alpha) g^2;  if centered: m <- alpha m + (1-alpha) g,
         v~ = v - m^2 else v~ = v;  if momentum: b <- mu b + g / (sqrt(v~) + eps), p <- p - lr b
         else p <- p - lr g / (sqrt(v~) + eps)
Adam     g <- g + wd p;  m <- beta1 m + (1 - beta1) g;  v <- beta2 v + (1 - beta2) g^2;
         amsgrad: v_max <- max(v_max, v), v^ = v_max, else v^ = v;
         p <- p - (lr / (1 - beta1^t)) m / (sqrt(v^) / sqrt(1 - beta2^t) + eps)
"""

from __future__ import annotations

import math

import numpy as np


class _Optimizer:
    def __init__(self, params: dict):
        if not isinstance(params, dict):
            raise TypeError(f"params must be the model's dict of arrays, got {type(params).__name__}")
        self.params = params
        self.state: dict = {name: {} for name in params}
        self.t = 0

    def step(self, grads: dict) -> None:
        missing = sorted(set(self.params) - set(grads))
        if missing:
            raise ValueError(f"grads is missing {missing}")
        self.t += 1
        for name, p in self.params.items():
            self.params[name] = self._update(p, grads[name], self.state[name])


class SGD(_Optimizer):
    def __init__(self, params, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("nesterov needs momentum > 0 and dampening = 0 (as in torch)")
        self.lr, self.momentum, self.dampening = lr, momentum, dampening
        self.weight_decay, self.nesterov = weight_decay, nesterov

    def _update(self, p, g, st):
        if self.weight_decay:
            g = g + self.weight_decay * p
        if self.momentum:
            if "b" not in st:
                st["b"] = g.copy()
            else:
                st["b"] = self.momentum * st["b"] + (1 - self.dampening) * g
            g = g + self.momentum * st["b"] if self.nesterov else st["b"]
        return p - self.lr * g


class RMSprop(_Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
        super().__init__(params)
        self.lr, self.alpha, self.eps = lr, alpha, eps
        self.weight_decay, self.momentum, self.centered = weight_decay, momentum, centered

    def _update(self, p, g, st):
        if self.weight_decay:
            g = g + self.weight_decay * p
        v = st["v"] = self.alpha * st.get("v", np.zeros_like(p)) + (1 - self.alpha) * g * g
        if self.centered:
            m = st["m"] = self.alpha * st.get("m", np.zeros_like(p)) + (1 - self.alpha) * g
            v = v - m * m
        denom = np.sqrt(v) + self.eps
        if self.momentum > 0:
            b = st["b"] = self.momentum * st.get("b", np.zeros_like(p)) + g / denom
            return p - self.lr * b
        return p - self.lr * g / denom


class Adam(_Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
        super().__init__(params)
        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps
        self.weight_decay, self.amsgrad = weight_decay, amsgrad

    def _update(self, p, g, st):
        if self.weight_decay:
            g = g + self.weight_decay * p
        b1, b2, t = self.beta1, self.beta2, self.t
        m = st["m"] = b1 * st.get("m", np.zeros_like(p)) + (1 - b1) * g
        v = st["v"] = b2 * st.get("v", np.zeros_like(p)) + (1 - b2) * g * g
        if self.amsgrad:
            v = st["v_max"] = np.maximum(st.get("v_max", np.zeros_like(p)), v)
        # math.sqrt: a Python float is "weak" and keeps float32 arrays float32; np.sqrt of a
        # Python float returns a NumPy float64 scalar, which would promote them (NEP 50).
        denom = np.sqrt(v) / math.sqrt(1 - b2**t) + self.eps
        return p - (self.lr / (1 - b1**t)) * m / denom

"""Training-trajectory parity: scratch and torch trained side by side, step by step.

Both start from identical weights, see identical batches in identical order and use the
same optimizer rule (scratch.optim vs torch.optim); after every step the losses and all
parameters are compared.

Tolerance, growing with the step number k (documented in the README):

    divergence_k = max|p_scratch - p_torch| / max|p_torch|
    allowed_k    = 10 * max( 1000 eps * (k + 1),  max_{j <= k} shadow_j )

One step of parity costs at most the suite's budget, 1000 eps of the scale. Training
carries earlier differences forward, shrinking them where the dynamics contract and
amplifying them where they are sensitive (the loss cliff of seed 002's counting task is
such a phase). How much, is measured on the reference alone, never on the run under
test: a *shadow* torch run gets a random perturbation of one step's budget (1000 eps of
each parameter's scale) after every step, and shadow_k is its divergence from the clean
torch run. That is how far two correct implementations can drift apart under these
dynamics with a whole budget of rounding difference per step (real implementations
differ by about 1 eps per step); the factor 10 is margin, and the floor is the linear
accumulation of the budget. A gradient bug adds an error of its own size at every step
and stands orders of magnitude above this. The loss is compared with the same bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from rnn_parity.reference.torch_models import TorchSequenceModel, as_target
from rnn_parity.reference.torch_ref import load_weights
from rnn_parity.scratch import optim
from rnn_parity.scratch.model import SequenceModel, loss_forward

EPS64 = float(np.finfo(np.float64).eps)
BUDGET = 1000 * EPS64


# ---------------------------------------------------------------------------------------
# The seeds' tasks.
# ---------------------------------------------------------------------------------------
def sine_data(seed: int = 123, period: int = 100, noise: float = 0.05, window: int = 25):
    """Seed 000 / 004: a noisy sine over two periods (2*period + 1 points), windows of
    ``window`` steps predicting the next value. Returns x (N, window, 1), t (N, 1), f."""
    rng = np.random.RandomState(seed)  # the seed's np.random.seed(123) stream
    n = np.arange(0, 2 * period + 1)
    f = np.sin(2.0 * np.pi * n / period) + noise * rng.uniform(-1.0, 1.0, size=len(n))
    x = np.stack([f[i : i + window] for i in range(len(f) - window)])[:, :, None]
    t = np.array([f[i + window] for i in range(len(f) - window)])[:, None]
    return x, t, f


def counting_data(seed: int = 1, samples: int = 20, seq_len: int = 10):
    """Seed 002: 20 binary sequences of length 10, target = number of ones; and the
    post's initial weights, drawn from the same stream (wx = 0.0900, wRec = 0.0113)."""
    rng = np.random.RandomState(seed)
    x = np.zeros((samples, seq_len))
    for row in range(samples):
        x[row] = np.around(rng.rand(seq_len))
    t = x.sum(axis=1, keepdims=True)
    w_x, w_rec = rng.uniform(-0.1, 0.1, 1), rng.uniform(-0.1, 0.1, 1)
    init = {"rnn.weight_ih_l0": w_x.reshape(1, 1), "rnn.weight_hh_l0": w_rec.reshape(1, 1)}
    return x[:, :, None], t, init


def xavier_orthogonal_init(model_kwargs: dict, seed: int) -> dict:
    """Seed 000's initialisation: xavier_normal_ for W_ih, orthogonal_ for W_hh, torch's
    defaults for the biases and the head, drawn with NumPy."""
    rng = np.random.default_rng(seed)
    template = SequenceModel(**model_kwargs, seed=seed)
    params = {}
    for name, p in template.params.items():
        if "weight_ih" in name:
            fan_out, fan_in = p.shape
            params[name] = rng.normal(0, np.sqrt(2.0 / (fan_in + fan_out)), p.shape)
        elif "weight_hh" in name:
            q, r = np.linalg.qr(rng.standard_normal(p.shape))
            params[name] = q * np.sign(np.diag(r))
        else:
            params[name] = p.astype(np.float64)
    return params


@dataclass
class Task:
    name: str
    model_kwargs: dict
    init: dict
    batches: list  # [(x, t), ...], cycled
    optimizer: tuple  # (name, hyperparameters), same for scratch.optim and torch.optim
    steps: int


def sine_task(*, hidden: int = 50, optimizer=("Adam", dict(lr=0.001, betas=(0.9, 0.009), amsgrad=True)),
              epochs: int = 50, batch_size: int = 100, seed: int = 0) -> Task:
    """Seed 000: RNN(1, hidden, tanh) + Linear head at the last step, MSE, Adam(amsgrad);
    the first 80 % of the windows for training, shuffled each epoch with a fixed seed."""
    x, t, _ = sine_data()
    n_train = int(len(x) * 0.8)
    x, t = x[:n_train], t[:n_train]
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(epochs):
        order = rng.permutation(n_train)
        batches += [(x[order[i : i + batch_size]], t[order[i : i + batch_size]]) for i in range(0, n_train, batch_size)]
    kw = dict(input_size=1, hidden_size=hidden, output_size=1, head="last", loss="mse", batch_first=True)
    return Task(f"sine (hidden {hidden}, {optimizer[0]})", kw, xavier_orthogonal_init(kw, seed), batches, optimizer, len(batches))


def counting_task(optimizer, steps: int = 2001) -> Task:
    """Seed 002: linear recurrence s_k = x_k w_x + s_{k-1} w_rec, y = s_10, no bias, no
    head (W_out = 1), loss sum (y - t)^2, full batch; the post's loop runs 2001 updates."""
    x, t, init = counting_data()
    kw = dict(input_size=1, hidden_size=1, head=None, nonlinearity="identity", bias=False, loss="sse", batch_first=True)
    return Task(f"counting ({optimizer[0]}, lr={optimizer[1]['lr']})", kw, init, [(x, t)], optimizer, steps)


# ---------------------------------------------------------------------------------------
# Side by side.
# ---------------------------------------------------------------------------------------
def _torch_step(model, opt, x, t) -> float:
    opt.zero_grad()
    loss = model(x, t)
    loss.backward()
    opt.step()
    return loss.item()


@dataclass
class Trajectory:
    task: str
    loss_scratch: list = field(default_factory=list)
    loss_torch: list = field(default_factory=list)
    divergence: list = field(default_factory=list)  # per step: max_p max|p_s - p_t| / max|p_t|
    allowed: list = field(default_factory=list)  # per step: the tolerance on divergence
    params_scratch: dict = field(default_factory=dict)
    params_torch: dict = field(default_factory=dict)
    model_scratch: SequenceModel | None = None

    @property
    def first_violation(self):
        for k, (d, a) in enumerate(zip(self.divergence, self.allowed)):
            if d > a:
                return k
        return None


def train_side_by_side(task: Task, steps: int | None = None, model_cls=SequenceModel) -> Trajectory:
    """Train ``model_cls`` (scratch's SequenceModel by default; ``plugin_model(cls)`` for a
    plug-in RNN class) and torch side by side."""
    steps = task.steps if steps is None else steps
    mine = model_cls(**task.model_kwargs)
    mine.params = {k: np.array(v, dtype=np.float64) for k, v in task.init.items()}
    opt_name, hyper = task.optimizer
    opt = getattr(optim, opt_name)(mine.params, **hyper)

    ref = TorchSequenceModel(**task.model_kwargs)
    load_weights(ref, task.init)
    topt = getattr(torch.optim, opt_name)(ref.parameters(), **hyper)
    names = [n for n, _ in ref.named_parameters()]

    shadow = TorchSequenceModel(**task.model_kwargs)
    load_weights(shadow, task.init)
    sopt = getattr(torch.optim, opt_name)(shadow.parameters(), **hyper)
    noise = np.random.default_rng(12345)

    traj = Trajectory(task.name, model_scratch=mine)
    worst_shadow = 0.0
    for k in range(steps):
        x, t = task.batches[k % len(task.batches)]
        xt, tt = torch.as_tensor(x, dtype=torch.float64), as_target(t)
        loss = mine.forward(x, t)
        opt.step(mine.backward())
        tloss = _torch_step(ref, topt, xt, tt)
        _torch_step(shadow, sopt, xt, tt)
        with torch.no_grad():  # one step's worth of rounding difference, on purpose
            for p in shadow.parameters():
                p.add_(torch.as_tensor(noise.uniform(-1, 1, tuple(p.shape)) * BUDGET * float(p.abs().max())))
        tp = {n: p.detach().numpy() for n, p in ref.named_parameters()}
        sp = dict(shadow.named_parameters())
        scale = max(float(np.max(np.abs(tp[n]))) for n in names)
        div = max(float(np.max(np.abs(mine.params[n] - tp[n]))) for n in names) / scale
        shadow_div = max(float(np.max(np.abs(sp[n].detach().numpy() - tp[n]))) for n in names) / scale
        worst_shadow = max(worst_shadow, shadow_div)
        traj.loss_scratch.append(loss)
        traj.loss_torch.append(tloss)
        traj.divergence.append(div)
        traj.allowed.append(10 * max(BUDGET * (k + 1), worst_shadow))
    traj.params_scratch = dict(mine.params)
    traj.params_torch = {n: p.detach().numpy().copy() for n, p in ref.named_parameters()}
    return traj


# ---------------------------------------------------------------------------------------
# A plug-in RNN class (the RNN contract) inside the same model.
# ---------------------------------------------------------------------------------------
class PluginSequenceModel(SequenceModel):
    """``SequenceModel`` (head, loss, parameter names ``rnn.*`` / ``head.*``) around a
    plug-in RNN class that follows the RNN contract (README, "The implementation contract"):
    constructed with torch.nn.RNN's arguments, weights assigned into ``impl.params[name]``
    before every forward, ``forward(x, h0=None) -> (output, h_n)``,
    ``backward(d_output, d_h_n=None) -> (dx, dh0)``, then ``impl.grads``. Construction goes
    through ``core.contract.construct`` (NotImplementedError -> ``Unsupported``, any other
    exception -> ``ImplementationError``); what the plug-in returns is checked, a broken
    contract raises ``ContractViolation``. Truncated BPTT is scratch's extension, not the
    contract's, so ``backward(truncate=...)`` is refused."""

    def __init__(self, rnn_cls, input_size, hidden_size, output_size=None, *, nonlinearity="tanh", num_layers=1,
                 bias=True, bidirectional=False, batch_first=True, head="last", loss="mse", dtype=np.float64,
                 seed=None):
        from ..core.contract import construct

        # scratch's model as the template: the head, the loss, the names and shapes
        super().__init__(input_size, hidden_size, output_size, nonlinearity=nonlinearity, num_layers=num_layers,
                         bias=bias, bidirectional=bidirectional, batch_first=batch_first, head=head, loss=loss,
                         dtype=dtype, seed=seed)
        self.rnn_cls = rnn_cls
        self._batch_first, self._directions, self._hidden = bool(batch_first), 2 if bidirectional else 1, hidden_size
        self._shapes = {k: v.shape for k, v in self.rnn.params.items()}
        self.rnn = construct(rnn_cls, dict(input_size=input_size, hidden_size=hidden_size, num_layers=num_layers,
                                           nonlinearity=nonlinearity, bias=bias, batch_first=batch_first,
                                           bidirectional=bidirectional))
        self._check_dict("params", "(after construction)")

    def _name(self) -> str:
        from ..core.contract import impl_name

        return impl_name(self.rnn_cls)

    def _call(self, method: str, *args):
        from ..core.contract import ImplementationError, Unsupported

        try:
            return getattr(self.rnn, method)(*args)
        except NotImplementedError as exc:
            raise Unsupported(f"{self._name()}.{method} raised NotImplementedError: {exc}") from None
        except Exception as exc:
            raise ImplementationError(f"{self._name()}.{method} raised {type(exc).__name__}: {exc}") from exc

    def _check_dict(self, attr: str, when: str) -> dict:
        from ..core.contract import ContractViolation

        d = getattr(self.rnn, attr, None)
        if not isinstance(d, dict) or set(d) != set(self._shapes):
            got = sorted(d) if isinstance(d, dict) else type(d).__name__
            raise ContractViolation(f"{self._name()}: .{attr} {when} must be a dict with exactly torch's parameter "
                                    f"names {sorted(self._shapes)}, got {got}")
        for name, shape in self._shapes.items():
            if not isinstance(d[name], np.ndarray) or d[name].shape != shape:
                raise ContractViolation(f"{self._name()}: .{attr}[{name!r}] {when} must be an array of shape "
                                        f"{shape}, got {getattr(d[name], 'shape', type(d[name]).__name__)}")
        return d

    def predict(self, x, h0=None):
        from ..core.contract import ContractViolation

        for k, v in self.params.items():  # the contract: weights assigned before every forward
            if k.startswith("rnn."):
                self.rnn.params[k[4:]] = v
        result = self._call("forward", x, h0)
        if not isinstance(result, tuple) or len(result) != 2:
            raise ContractViolation(f"{self._name()}.forward must return a tuple (output, h_n)")
        out, h_n = result
        T, B = (x.shape[1], x.shape[0]) if self._batch_first else x.shape[:2]
        width = self._directions * self._hidden
        want = (B, T, width) if self._batch_first else (T, B, width)
        if not isinstance(out, np.ndarray) or out.shape != want:
            raise ContractViolation(f"{self._name()}: forward output must have shape {want}, "
                                    f"got {getattr(out, 'shape', type(out).__name__)}")
        return self.head_forward(out, h_n)

    def forward(self, x, target, h0=None) -> float:
        y = self.predict(x, h0)
        self._target = target
        return loss_forward(self.loss, y, target)

    def backward(self, *, truncate=None) -> dict:
        if truncate is not None:
            raise ValueError("truncated BPTT is scratch's extension, not part of the RNN contract")
        if self._cache is None:
            raise ValueError("backward() called before forward()")
        d_out, grads = self.head_backward()
        self._call("backward", d_out, None)
        grads.update({f"rnn.{k}": np.asarray(v) for k, v in self._check_dict("grads", "(after backward)").items()})
        self.grads = {k: grads[k] for k in self.params}
        return self.grads

    def _time_axis(self):  # the plug-in need not have a batch_first attribute
        return 1 if self._batch_first else 0


def plugin_model(rnn_cls):
    """A ``model_cls`` for ``train_side_by_side``: the seeds' model around ``rnn_cls``."""

    def make(**model_kwargs):
        return PluginSequenceModel(rnn_cls, **model_kwargs)

    make.__name__ = f"PluginSequenceModel[{getattr(rnn_cls, '__qualname__', rnn_cls)}]"
    return make

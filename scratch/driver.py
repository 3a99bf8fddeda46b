"""The recurrence driver shared by every cell (Elman, LSTM, GRU): layers, directions, the
time loop and backprop-through-time. The equations of each cell live in its own module
(``elman.py``, ``lstm.py``, ``gru.py``); this module knows none of them.

What the driver does, for any cell::

    for each layer k (bottom-up), for each direction d (forward; reverse if bidirectional):
        xs     = the layer's input in processing order   (reverse: x[T-1], ..., x[0])
        tape   = cell.tape(w, xs, initial_states, out)   # input projection: GEMMs over stacked steps
        for s in 0 .. T-1:  tape.step(s)                  # the recurrence: the only Python loop
    backward, for each layer k (top-down), for each direction:
        tape.begin_backward(w, reverse)                   # buffers (the reverse one's da in time order)
        for s in T-1 .. 0:  d = tape.backward_step(s, d)  # carry dL/d(states) back one step
        dx, grads = tape.weight_grads(xs)                 # batched GEMMs over all (t, b) rows

plus what is the same for every cell: the reverse direction's order, variable ``lengths``
(masking), truncated BPTT (``truncate=k``), and the one-buffer-per-layer trick below.

**A cell** (e.g. ``elman.Elman(spec)``) provides:

* ``spec``: has ``input_size``, ``num_layers``, ``bidirectional``, ``num_directions``
  and ``directions()`` (the name suffixes ``""`` / ``"_reverse"``);
* ``state_sizes``: the width of each recurrent state, the output first: ``(H,)`` for
  Elman and GRU (h), ``(P or H, H)`` for LSTM (h, c);
* ``param_shapes(input_size)``: one direction's parameters without the ``_l{k}{sfx}``
  suffix, in torch's order, e.g. ``{"weight_ih": (H, I), "weight_hh": (H, H), ...}``,
  and ``param_names``: the same names (a tuple);
* ``tape(w, xs, init, out)``: a tape for one direction of one layer (below); ``w`` is
  that direction's parameter dict (suffix-free names), ``xs`` (T, B, I) its input in
  processing order, ``init`` the initial states (B, n_k), ``out`` None or a (T+1, B, n_0)
  view the tape must use as its buffer for state 0 (h).

**A tape** holds the forward states and whatever its backward needs, and provides:

* ``states``: tuple of (T+1, B, n_k) arrays in PROCESSING order, ``states[k][0]`` the
  initial state and ``states[k][s+1]`` the state after step s;
* ``step(s)``: the recurrent update, writing ``states[k][s+1]`` from ``states[k][s]``;
* ``end_forward()``: drop what only the forward loop needed (the cache is what is left);
* ``begin_backward(w, reverse=False)``, ``backward_step(s, d) -> d_prev`` (``d``: a list with
  dL/d(states[k][s+1]) per state, total for step s; the tape may write into it; returns
  dL/d(states[k][s]) through this step only, as a list), ``weight_grads(xs) -> (dx (T, B, I) in
  processing order, {suffix-free name: gradient})``. ``reverse``: the direction reads
  x[::-1] and its states are a reversed view of the layer's buffer, so the tape keeps its
  per-step gradients in time order too (``step_buffer``, ``time_ordered``).

Everything is time-major (T, B, ...); batch_first and unbatched input are the class
shells' business (``scratch.modules``). Nothing here up- or down-casts.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from . import parallel

__all__ = [
    "StackShape",
    "Cache",
    "param_shapes",
    "block_steps",
    "step_buffer",
    "time_ordered",
    "forward",
    "backward",
    "step_forward",
    "step_backward",
]

# How many values of per-step data a tape's backward processes in one NumPy call (see
# ``block_steps``): 2**16 float32 values are 256 KB, so a block of gates and the local
# derivatives computed from it stay in the core's L2 cache between the calls that use them.
BLOCK_VALUES = 1 << 16


class StackShape:
    """Mixin for the spec dataclasses (``RNNSpec``, ``LSTMSpec``, ``GRUSpec``): the
    direction bookkeeping the driver reads from ``bidirectional``."""

    bidirectional: bool

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def directions(self) -> tuple[str, ...]:
        """Parameter-name suffix of each direction, in torch's order."""
        return ("", "_reverse") if self.bidirectional else ("",)


def param_shapes(cell) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the torch module's ``named_parameters()``, in torch's order:
    layer by layer, forward direction before reverse, the cell's own order within."""
    spec = cell.spec
    out_size = cell.state_sizes[0]
    shapes: dict[str, tuple[int, ...]] = {}
    for layer in range(spec.num_layers):
        in_size = spec.input_size if layer == 0 else spec.num_directions * out_size
        for sfx in spec.directions():
            for name, shape in cell.param_shapes(in_size).items():
                shapes[f"{name}_l{layer}{sfx}"] = shape
    return shapes


def block_steps(row_values: int) -> int:
    """How many time steps a tape's backward prepares at once, given the values one step
    spans (e.g. B * 4H for the LSTM's gates): as many as fit in ``BLOCK_VALUES``, at least 1.

    Why blocks. An elementwise NumPy call costs a fixed ~1 us plus its data. Over all T
    steps at once (one call per operation) the arrays of a large layer leave the cache and
    every call streams them from memory (measured 3-7x slower per value than on cached data,
    most for the gate slices, which are strided); one step at a time, a small layer pays the
    fixed cost T times. A block of steps is both: few calls, cached data.
    """
    return max(1, BLOCK_VALUES // max(1, row_values))


def step_buffer(shape, dtype, reverse: bool = False) -> np.ndarray:
    """An empty (T, ...) buffer whose row s is written at processing step s: a tape's gate
    gradients da, which ``weight_grads`` multiplies over all (t, b) rows at once.

    For the reverse direction (``reverse``) it is a reversed view of a buffer laid out in
    TIME order: row s sits at time T-1-s. Why: the products dW_ih = da^T xs and
    dW_hh = da^T h_prev sum over rows, so any order does if all three operands share it;
    in processing order the reverse direction's xs = x[::-1] and h_prev (a reversed view of
    the layer's buffer) cannot be viewed as 2-D (T*B, n) matrices, and each product copied
    them (3 MB a layer at ``rnn-parity bench``'s deep size). In time order
    (``time_ordered``) x and the layer's buffer are multiplied as they lie, and dx comes
    out in time order: the driver's ``dx[::-1]`` is then contiguous again.
    """
    buf = np.empty(shape, dtype=dtype)
    return buf[::-1] if reverse else buf


def time_ordered(reverse: bool, da: np.ndarray, xs: np.ndarray, h_prev: np.ndarray):
    """The operands of ``weight_grads``' products, (da, xs, h_prev), all in one order: time
    order for the reverse direction, whose ``da`` is a reversed ``step_buffer`` (all three
    flipped back: views, no copy; the caller then returns its dx as ``dx[::-1]``, processing
    order, as the protocol says), else as given."""
    if reverse:
        return da[::-1], xs[::-1], h_prev[::-1]
    return da, xs, h_prev


def _direction_params(cell, params, layer, sfx) -> dict:
    """One direction's parameters under their suffix-free names, in the cell's order."""
    tail = f"_l{layer}{sfx}"
    return {name: params[name + tail] for name in cell.param_names}


# ---------------------------------------------------------------------------------------
# Processing order: how a direction reads the sequence.
# ---------------------------------------------------------------------------------------
def _processing_order(T: int, lengths, reverse: bool):
    """How a direction reads the sequence, as (order, mask).

    Without ``lengths``: order is None (plain slicing, x or x[::-1]) and mask None.
    With ``lengths`` (B,): order[s, b] is the time step that step s of sequence b reads
    and mask[s, b] says whether it is a real one. Every sequence is a prefix of the
    batch's time axis, so both directions are "a masked prefix recurrence over a
    permuted sequence": the reverse direction of sequence b reads t = len_b - 1 down to
    0, so it starts at its own last valid step, as torch's packed sequences do.
    """
    if lengths is None:
        return None, None
    s = np.arange(T)[:, None]
    mask = s < lengths[None, :]  # (T, B)
    order = np.where(mask, lengths[None, :] - 1 - s, s) if reverse else np.broadcast_to(s, mask.shape)
    return order, mask


def _gather(a, order, reverse):
    """a (T, B, ...) in time order -> processing order."""
    if order is None:
        return a[::-1] if reverse else a
    return a[order, np.arange(a.shape[1])[None, :]]


# ---------------------------------------------------------------------------------------
# One direction of one layer over a whole sequence.
# ---------------------------------------------------------------------------------------
def _direction_forward(cell, w, x, init, reverse, order=None, mask=None, out=None):
    """Run the recurrence over x (T, B, I) from the initial states ``init``; returns the tape.

    With a ``mask`` (variable lengths), a padded step leaves every state unchanged:
    state_{s+1} = state_s, so states[k][-1] is each sequence's state at its own last
    valid step.
    """
    tape = cell.tape(w, _gather(x, order, reverse), init, out)
    step = tape.step
    if mask is None:
        for s in range(x.shape[0]):
            step(s)
    else:
        for s in range(x.shape[0]):
            step(s)
            keep = ~mask[s][:, None]
            for buf in tape.states:
                np.copyto(buf[s + 1], buf[s], where=keep)
    tape.end_forward()
    return tape


def _direction_backward(tape, w, dys, d_last, x, reverse, order=None, mask=None, truncate=None):
    """BPTT through one direction.

    dys (T, B, n_0): dL/d(output of this direction) in ORIGINAL time order; d_last: per
    state, dL/d(its final value) (B, n_k). Returns (dx (T, B, I) in original order,
    dL/d(initial states) as a list, grads with suffix-free names).
    Padded steps (mask False) have no output and pass the states through, so their gate
    gradients are 0 and d flows through them unchanged to the last valid step.
    ``truncate=k``: the states entering steps k, 2k, ... were detached, so nothing flows
    back across those boundaries (truncated BPTT; seed 000's update sums only the last
    tau steps).
    """
    T, B, _ = dys.shape
    # One contiguous copy, in processing order, of this direction's output gradients: they
    # are a column slice of the layer's (and reversed for the reverse direction), and the
    # per-step ``d[0] += dys_p[s]`` below is then a flat add instead of a strided one.
    dys_p = np.ascontiguousarray(_gather(dys, order, reverse))
    tape.begin_backward(w, reverse=reverse and order is None)
    d = [g.copy() for g in d_last]  # never write into the caller's d_h_n
    step = tape.backward_step
    for s in range(T - 1, -1, -1):
        if mask is None:
            d[0] += dys_p[s]  # h_s feeds both the output at s and step s+1: gradients add
            d = step(s, d)
        else:
            m = mask[s][:, None]
            d[0] += np.where(m, dys_p[s], 0)  # a padded output is a constant zero
            prev = step(s, [np.where(m, g, 0) for g in d])
            d = [np.where(m, p, g) for p, g in zip(prev, d)]  # padded: state_{s+1} = state_s passes d through
        if truncate is not None and s > 0 and s % truncate == 0:
            d = [np.zeros_like(g) for g in d]  # the states entering step s were detached (h0 never is)
    dx_p, grads = tape.weight_grads(_gather(x, order, reverse))
    if order is None:
        dx = dx_p[::-1] if reverse else dx_p
    else:  # scatter back to time order; padded positions get zero gate gradients, so dx = 0
        dx = np.empty_like(dx_p)
        dx[order, np.arange(B)[None, :]] = dx_p
    return dx, d, grads


# ---------------------------------------------------------------------------------------
# The multi-layer, optionally bidirectional stack.
# ---------------------------------------------------------------------------------------
@dataclass
class Cache:
    """What backward needs: per layer its input, per direction its output states and tape."""

    cell: object
    layer_inputs: list  # layer_inputs[k]: (T, B, I_k)
    hidden: list  # hidden[k][d]: (T+1, B, n_0) output states (h) in processing order
    tapes: list  # tapes[k][d]: that direction's units, ((rows, tape), ...): its row blocks
    orders: list  # per direction: (order, mask) for variable lengths, else (None, None)
    blocks: list  # the row blocks of every direction (scratch.parallel.plan): [slice(None)] if one
    parallel: bool  # whether the units run side by side


def forward(cell, params: dict, x: np.ndarray, init, lengths=None):
    """x (T, B, I), init: per state (L*D, B, n_k) -> (output (T, B, D*n_0), finals, cache)
    with finals a list, per state (L*D, B, n_k): h_n (and c_n).

    ``lengths`` (B,) ints in [1, T], optional: sequence b is x[:lengths[b], b]. Outputs
    past each length are zero and the final states are each sequence's states at its own
    last valid step (the reverse direction starts there), as with torch's packed sequences.

    With more than one BLAS thread, a layer's directions and blocks of batch rows run side
    by side (``scratch.parallel``: they are independent recurrences); each unit is the
    same ``_direction_forward`` over its rows, writing its rows of the shared buffers.
    """
    spec = cell.spec
    T, B, _ = x.shape
    D, n_out = spec.num_directions, cell.state_sizes[0]
    finals = [np.empty((spec.num_layers * D, B, n), dtype=x.dtype) for n in cell.state_sizes]
    orders = [_processing_order(T, lengths, reverse=d == 1) for d in range(D)]
    # Units: one per direction and block of rows (variable lengths: one per direction, serial).
    width = cell.param_shapes(1)["weight_hh"][0]  # gate values per row and step: H, 3H or 4H
    blocks, par = parallel.plan(B, D, width) if lengths is None else ([slice(None)], False)
    cache = Cache(cell, [], [], [], orders, blocks, par)
    layer_in = x
    for layer in range(spec.num_layers):
        # One buffer per layer holds both directions' output states and IS the layer's
        # output: row 0 = forward h0, rows 1..T = states at t = 0..T-1, row T+1 = reverse
        # h0. The forward direction's states (processing order) are rows 0..T, the reverse
        # one's rows T+1..1 read backwards: both are views, so the layer's output and the
        # h part of its BPTT cache are the same memory (the next layer reads rows 1..T).
        seq = np.empty((T + 2, B, D * n_out), dtype=x.dtype)
        out = seq[1 : T + 1]
        jobs, views = [], []
        for d, sfx in enumerate(spec.directions()):
            w = _direction_params(cell, params, layer, sfx)
            init_d = [s0[layer * D + d] for s0 in init]
            order, mask = orders[d]
            if order is None:
                view = seq[T + 1 : 0 : -1, :, d * n_out : (d + 1) * n_out] if d == 1 else seq[: T + 1, :, :n_out]
                for rows in blocks:  # each unit writes its rows of the layer's buffer
                    jobs.append(partial(_direction_forward, cell, w, layer_in[:, rows],
                                        [s0[rows] for s0 in init_d], d == 1, out=view[:, rows]))
            else:  # variable lengths: own buffer, scattered back to time order below
                view = None
                jobs.append(partial(_direction_forward, cell, w, layer_in, init_d, d == 1, order, mask))
            views.append(view)
        tapes = iter(parallel.run(jobs, par))
        layer_hidden, layer_tapes = [], []
        for d in range(D):
            parts = tuple((rows, next(tapes)) for rows in blocks)
            for rows, tape in parts:
                for final, states in zip(finals, tape.states):
                    final[layer * D + d][rows] = states[-1]
            order, mask = orders[d]
            if order is not None:  # padded positions -> 0
                states0 = parts[0][1].states[0]
                o = np.zeros((T, B, n_out), dtype=x.dtype)
                o[order, np.arange(B)[None, :]] = np.where(mask[:, :, None], states0[1:], 0)
                out[:, :, d * n_out : (d + 1) * n_out] = o
            layer_hidden.append(views[d] if views[d] is not None else parts[0][1].states[0])
            layer_tapes.append(parts)
        cache.layer_inputs.append(layer_in)
        cache.hidden.append(layer_hidden)
        cache.tapes.append(layer_tapes)
        layer_in = out
    # The caller gets its own copy of the top layer's output: writing into it must not
    # change the cache the backward pass reads.
    return layer_in.copy(), finals, cache


def backward(params: dict, cache: Cache, d_out: np.ndarray, d_finals, truncate=None):
    """d_out (T, B, D*n_0), d_finals: per state (L*D, B, n_k) ->
    (dx (T, B, I), d_init: a list, per state (L*D, B, n_k), grads in torch's order).

    Layers are walked top-down: the gradient w.r.t. layer k's input is the upstream
    gradient on layer k-1's output, summed over both directions of layer k.
    ``truncate=k``: truncated BPTT, the states detached every k steps.
    The forward's units (a direction's blocks of rows, ``cache.blocks``) run their BPTT side
    by side when ``cache.parallel``; a parameter's gradient is the sum of its units' shares.
    """
    cell = cache.cell
    spec = cell.spec
    D, n_out = spec.num_directions, cell.state_sizes[0]
    d_init = [np.empty_like(g) for g in d_finals]
    layer_grads = [{} for _ in range(spec.num_layers)]
    d_layer_out = d_out
    for layer in range(spec.num_layers - 1, -1, -1):
        layer_in = cache.layer_inputs[layer]
        jobs, units = [], []
        for d, sfx in enumerate(spec.directions()):
            w = _direction_params(cell, params, layer, sfx)
            dys = d_layer_out[:, :, d * n_out : (d + 1) * n_out]
            for rows, tape in cache.tapes[layer][d]:
                jobs.append(partial(_direction_backward, tape, w, dys[:, rows],
                                    [df[layer * D + d][rows] for df in d_finals], layer_in[:, rows],
                                    d == 1, *cache.orders[d], truncate=truncate))
                units.append((d, sfx, rows, w))
        # The forward direction's dx is a fresh product (tape.weight_grads): with all rows in
        # one unit, sum into it; with row blocks, each block fills its rows of d_in.
        d_in = None if len(cache.blocks) == 1 else np.empty(layer_in.shape, dtype=layer_in.dtype)
        for (d, sfx, rows, w), (dx, d0, g) in zip(units, parallel.run(jobs, cache.parallel)):
            if d_in is None:
                d_in = dx
            elif d == 0:
                d_in[:, rows] = dx
            else:
                d_in[:, rows] += dx
            for di, gi in zip(d_init, d0):
                di[layer * D + d][rows] = gi
            tail = f"_l{layer}{sfx}"
            for name in w:  # the cell's order; another block's share is added (fresh arrays)
                if name + tail in layer_grads[layer]:
                    layer_grads[layer][name + tail] += g[name]
                else:
                    layer_grads[layer][name + tail] = g[name]
        d_layer_out = d_in
    # Report gradients in torch's parameter order: layer by layer, forward direction first.
    grads = {name: arr for per_layer in layer_grads for name, arr in per_layer.items()}
    return d_layer_out, d_init, grads


# ---------------------------------------------------------------------------------------
# One step of one cell (the *Cell classes): the T = 1 case of one direction.
# ---------------------------------------------------------------------------------------
def step_forward(cell, w, x, init):
    """x (B, I), init: per state (B, n_k) -> (new states, tape)."""
    tape = _direction_forward(cell, w, x[None], init, reverse=False)
    return tuple(states[1] for states in tape.states), tape


def step_backward(tape, w, x, d_new):
    """d_new: per state dL/d(new state) (B, n_k) -> (dx (B, I), per state dL/d(old state), grads)."""
    zero = np.zeros_like(d_new[0])[None]  # the step's "output" is its new h, already in d_new[0]
    dx, d_old, grads = _direction_backward(tape, w, zero, d_new, x[None], reverse=False)
    return dx[0], d_old, grads

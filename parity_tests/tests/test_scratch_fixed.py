"""scratch's default classes against torch on a handful of fixed, small configurations that
together use every option: the fast subset ``make mutation`` runs per mutant
(``docs/mutation.md``), and a quick smoke test of every class in ``make test``.

One table (``FIXED``) of named cases; each runs scratch's class and torch's module (float64,
``reference.torch_ref``: same weights by name, same inputs, same upstream gradients, one VJP)
and compares every result, input gradient and parameter gradient with the suite's one
tolerance rule (``core/compare.compare``: 1000 eps of the requested precision times the
reference's greatest magnitude). Together the rows cover: RNN (tanh, relu), LSTM (with and
without proj_size), GRU; one and two layers; unidirectional and bidirectional; time-major
and batch_first; bias on and off; h0 given and None; float64 and float32; variable
``lengths`` (torch's packed sequences) and truncated BPTT (torch with the state detached
every k steps) for every cell; scratch's ``identity`` recurrence (against
``reference.torch_models.LoopRNN``, explicit torch ops); and the three one-step cells.

Why a fixed table beside the hypothesis rows (``test_parity.py``): a mutant run needs a
test that takes well under a second and always sees the same numbers. Every row here uses
O(1) data (weights' rows scaled to l1-norm ``weight_scale``, inputs and states in [-1, 1],
standard normal upstream gradients), at most 2 layers and 5 steps, so the float64 and
float32 differences of a correct implementation sit orders of magnitude below the budget
(``test_fixed_rows_have_margin`` measures it) while a wrong term is O(1e-2) or more.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
import torch

from parity_tests.core.compare import compare, format_comparison
from rnn_parity import scratch
from rnn_parity.scratch import functional, parallel
from rnn_parity.reference.torch_models import LoopRNN
from rnn_parity.reference.torch_ref import build, load_weights, param_shapes, vjp

DTYPES = {"float64": np.float64, "float32": np.float32}
CELLS = ("RNNCell", "LSTMCell", "GRUCell")


@dataclass(frozen=True)
class Fixed:
    """One fixed case: ``module`` names both the torch.nn class and scratch's (``"RNN"`` with
    ``kwargs["nonlinearity"] == "identity"`` runs torch's side as ``LoopRNN``)."""

    name: str
    module: str
    kwargs: dict = field(default_factory=dict)  # constructor arguments, shared by both sides
    T: int = 4
    B: int = 3
    dtype: str = "float64"
    has_h0: bool = True  # False: scratch gets None, torch zeros (and dh0 is still compared)
    d_c: bool = True  # LSTMCell only: False passes d_c=None (zeros) to scratch
    lengths: tuple | None = None
    truncate: int | None = None
    weight_scale: float = 1.5
    seed: int = 0
    threads: int | None = None  # run scratch with this many threads, splitting down to 1 value per unit

    @property
    def is_cell(self) -> bool:
        return self.module in CELLS

    @property
    def is_lstm(self) -> bool:
        return self.module.startswith("LSTM")


def _k(**kw) -> dict:
    base = dict(input_size=3, hidden_size=4)
    base.update(kw)
    return base


DEEP = dict(num_layers=2, bidirectional=True)

FIXED = [
    # --- RNN (Elman) ---
    Fixed("rnn_tanh", "RNN", _k(), seed=1),
    Fixed("rnn_relu_deep_bidir_batch_first_no_bias_h0_none", "RNN",
          _k(nonlinearity="relu", batch_first=True, bias=False, **DEEP), has_h0=False, seed=2),
    Fixed("rnn_tanh_deep_bidir_float32", "RNN", _k(**DEEP), dtype="float32", seed=3),
    Fixed("rnn_relu_batch_first_float32", "RNN", _k(nonlinearity="relu", batch_first=True), dtype="float32", seed=4),
    Fixed("rnn_tanh_saturated_three_layers", "RNN", _k(num_layers=3), weight_scale=3.0, seed=5),
    Fixed("rnn_lengths_deep_bidir", "RNN", _k(**DEEP), lengths=(2, 4, 1), seed=6),
    Fixed("rnn_lengths_relu_batch_first", "RNN", _k(nonlinearity="relu", batch_first=True), lengths=(4, 1, 3), seed=7),
    Fixed("rnn_truncate_two_layers", "RNN", _k(num_layers=2), T=5, truncate=2, seed=8),
    Fixed("rnn_truncate_every_step", "RNN", _k(), T=3, truncate=1, seed=17),  # the cut at s = 1 too
    Fixed("rnn_identity_two_layers", "RNN", _k(nonlinearity="identity", num_layers=2), weight_scale=1.0, seed=9),
    Fixed("rnn_identity_batch_first_no_bias", "RNN", _k(nonlinearity="identity", batch_first=True, bias=False),
          weight_scale=1.0, has_h0=False, seed=10),
    # --- LSTM ---
    Fixed("lstm_basic", "LSTM", _k(), seed=11),
    Fixed("lstm_proj_deep_bidir_batch_first_no_bias_h0_none", "LSTM",
          _k(proj_size=2, batch_first=True, bias=False, **DEEP), has_h0=False, seed=12),
    Fixed("lstm_proj_deep_bidir_float32", "LSTM", _k(proj_size=3, **DEEP), dtype="float32", seed=13),
    Fixed("lstm_deep_bidir_float64", "LSTM", _k(**DEEP), seed=14),
    Fixed("lstm_lengths_proj_deep_bidir", "LSTM", _k(proj_size=2, **DEEP), lengths=(3, 1, 4), seed=15),
    Fixed("lstm_truncate_two_layers", "LSTM", _k(num_layers=2), T=5, truncate=2, seed=16),
    # hidden_size 1 in float32: the projection's products are matrix x column, routed gate by
    # gate around OpenBLAS's sgemv_t (LSTMTape._project, scratch/linalg)
    Fixed("lstm_hidden_one_deep_bidir_float32", "LSTM", _k(hidden_size=1, **DEEP), dtype="float32", seed=18),
    # --- GRU ---
    Fixed("gru_basic", "GRU", _k(), seed=21),
    Fixed("gru_deep_bidir_batch_first_no_bias_h0_none", "GRU",
          _k(batch_first=True, bias=False, **DEEP), has_h0=False, seed=22),
    Fixed("gru_deep_bidir_float32", "GRU", _k(**DEEP), dtype="float32", seed=23),
    Fixed("gru_lengths_deep_bidir", "GRU", _k(**DEEP), lengths=(1, 4, 2), seed=24),
    Fixed("gru_truncate_two_layers", "GRU", _k(num_layers=2), T=5, truncate=2, seed=25),
    # --- large layers: the tapes' backward prepares its local derivatives a block of steps at
    # a time (driver.block_steps: 2**16 values per block); these rows have blocks of 1 and 2
    # steps, with a partial last block, so every block boundary is crossed (test below) ---
    Fixed("rnn_large_layer_blocks_of_2", "RNN", _k(hidden_size=256), T=5, B=128, seed=41),
    Fixed("rnn_large_layer_blocks_of_1", "RNN", _k(hidden_size=256, nonlinearity="relu"), T=3, B=256, seed=42),
    Fixed("lstm_large_layer_blocks_of_2", "LSTM", _k(hidden_size=256), T=5, B=32, seed=43),
    Fixed("lstm_large_layer_blocks_of_1", "LSTM", _k(hidden_size=256), T=3, B=64, seed=44),
    Fixed("gru_large_layer_blocks_of_2", "GRU", _k(hidden_size=256), T=5, B=32, seed=45),
    Fixed("gru_large_layer_blocks_of_1", "GRU", _k(hidden_size=256), T=3, B=64, seed=46),
    # blocks of 3 over T = 5: the last block (2 steps) is partial and does not broadcast
    Fixed("lstm_large_layer_blocks_of_3", "LSTM", _k(hidden_size=256), T=5, B=20, seed=47),
    Fixed("gru_large_layer_blocks_of_3", "GRU", _k(hidden_size=256), T=5, B=20, seed=48),
    # --- units side by side (scratch.parallel): directions and blocks of batch rows in threads,
    # forced down to one value per unit so that these small rows split; blocks of unequal size
    # (B = 5 over 2 blocks, B = 4 over 3), both directions, two layers, the projection ---
    Fixed("lstm_units_rows_and_directions", "LSTM", _k(**DEEP), B=5, threads=4, seed=51),
    Fixed("lstm_units_proj_no_bias_batch_first", "LSTM", _k(proj_size=2, bias=False, batch_first=True),
          B=4, threads=3, dtype="float32", seed=52),
    Fixed("gru_units_rows_h0_none", "GRU", _k(num_layers=2), B=4, threads=3, has_h0=False, seed=53),
    Fixed("rnn_units_directions_relu", "RNN", _k(nonlinearity="relu", **DEEP), threads=2, seed=54),
    Fixed("rnn_units_truncate_rows", "RNN", _k(num_layers=2), T=5, B=4, truncate=2, threads=2, seed=55),
    Fixed("gru_units_lengths_stay_serial", "GRU", _k(**DEEP), lengths=(1, 4, 2), threads=4, seed=56),
    # --- the one-step cells ---
    Fixed("rnncell_tanh", "RNNCell", _k(), seed=31),
    Fixed("rnncell_relu_no_bias_h_none", "RNNCell", _k(nonlinearity="relu", bias=False), has_h0=False, seed=32),
    Fixed("rnncell_tanh_float32", "RNNCell", _k(), dtype="float32", seed=33),
    Fixed("lstmcell_basic", "LSTMCell", _k(), seed=34),
    Fixed("lstmcell_no_bias_h_none_d_c_none", "LSTMCell", _k(bias=False), has_h0=False, d_c=False, seed=35),
    Fixed("lstmcell_float32", "LSTMCell", _k(), dtype="float32", seed=36),
    Fixed("grucell_basic", "GRUCell", _k(), seed=37),
    Fixed("grucell_no_bias_h_none", "GRUCell", _k(bias=False), has_h0=False, seed=38),
    Fixed("grucell_float32", "GRUCell", _k(), dtype="float32", seed=39),
]


# ---------------------------------------------------------------------------------------
# Arrays.
# ---------------------------------------------------------------------------------------
def _torch_kwargs(case: Fixed) -> dict:
    kw = dict(case.kwargs)
    if kw.get("nonlinearity") == "identity":  # shaped like tanh (torch has no identity RNN)
        kw["nonlinearity"] = "tanh"
    return kw


def _weights(rng, shapes: dict, scale: float) -> dict:
    """Uniform, each row of a layer's [W_ih | W_hh | b_ih | b_hh] scaled to l1-norm ``scale``
    (so |pre-activation| <= scale while inputs and states lie in [-1, 1]); each row of an LSTM's
    projection W_hr to l1-norm 1 (so the projected h stays in [-1, 1])."""
    raw = {name: rng.uniform(-1.0, 1.0, shape) for name, shape in shapes.items()}
    out = {}
    for name, w in raw.items():
        if name.startswith("weight_ih"):
            group = [name] + [name.replace("weight_ih", p, 1) for p in ("weight_hh", "bias_ih", "bias_hh")]
            l1 = sum(np.abs(raw[g]).reshape(raw[g].shape[0], -1).sum(axis=1) for g in group if g in raw)
            for g in group:
                if g in raw:
                    out[g] = raw[g] * ((scale / l1)[:, None] if raw[g].ndim == 2 else scale / l1)
        elif name.startswith("weight_hr"):
            out[name] = w / np.abs(w).sum(axis=1, keepdims=True)
    return {name: out[name] for name in shapes}


def _shapes(case: Fixed) -> dict:
    """x, the states (state names -> shapes) and the outputs, as the caller sees them."""
    kw, T, B = case.kwargs, case.T, case.B
    I, H = kw["input_size"], kw["hidden_size"]
    R = kw.get("proj_size", 0) or H
    if case.is_cell:
        states = {"h": (B, H), "c": (B, H)} if case.is_lstm else {"h": (B, H)}
        return {"x": (B, I), "states": states, "out": None}
    LD = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
    D = 2 if kw.get("bidirectional") else 1
    states = {"h": (LD, B, R), "c": (LD, B, H)} if case.is_lstm else {"h": (LD, B, H)}
    bf = kw.get("batch_first", False)
    return {"x": (B, T, I) if bf else (T, B, I), "states": states, "out": (B, T, D * R) if bf else (T, B, D * R)}


def materialize(case: Fixed) -> dict:
    dt = DTYPES[case.dtype]
    rng = np.random.default_rng(case.seed)
    s = _shapes(case)
    params = _weights(rng, param_shapes(case.module, **_torch_kwargs(case)), case.weight_scale)
    a = {"params": {k: v.astype(dt) for k, v in params.items()}, "x": rng.uniform(-1, 1, s["x"]).astype(dt)}
    a["states"] = {k: rng.uniform(-1, 1, shape).astype(dt) for k, shape in s["states"].items()}
    a["d_out"] = None if s["out"] is None else rng.standard_normal(s["out"]).astype(dt)
    a["d_states"] = {k: rng.standard_normal(shape).astype(dt) for k, shape in s["states"].items()}
    if case.lengths is not None:  # torch gives no gradient to outputs past each length: keep them 0
        t = np.arange(case.T)[:, None] >= np.array(case.lengths)[None, :]  # (T, B)
        a["d_out"][t.T if case.kwargs.get("batch_first") else t] = 0
    return a


# ---------------------------------------------------------------------------------------
# The two sides, each as a flat dict in causal order.
# ---------------------------------------------------------------------------------------
def run_scratch(case: Fixed, a: dict) -> dict:
    if case.threads is None:
        return _run_scratch(case, a)
    with parallel.configured(threads=case.threads, min_values=1):
        return _run_scratch(case, a)


def _run_scratch(case: Fixed, a: dict) -> dict:
    m = getattr(scratch, case.module)(**case.kwargs)
    m.params = dict(a["params"])
    st = a["states"] if case.has_h0 else {k: None for k in a["states"]}
    ds = a["d_states"]
    lengths = None if case.lengths is None else np.array(case.lengths)
    if case.module in ("RNN", "GRU"):
        out, h_n = m.forward(a["x"], st["h"], lengths=lengths)
        dx, dh0 = m.backward(a["d_out"], ds["h"], truncate=case.truncate)
        res = {"output": out, "h_n": h_n, "dx": dx, "dh0": dh0}
    elif case.module == "LSTM":
        hx = (st["h"], st["c"]) if case.has_h0 else None
        out, (h_n, c_n) = m.forward(a["x"], hx, lengths=lengths)
        dx, (dh0, dc0) = m.backward(a["d_out"], ds["h"], ds["c"], truncate=case.truncate)
        res = {"output": out, "h_n": h_n, "c_n": c_n, "dx": dx, "dh0": dh0, "dc0": dc0}
    elif case.module == "LSTMCell":
        hx = (st["h"], st["c"]) if case.has_h0 else None
        h1, c1 = m.forward(a["x"], hx)
        dx, (dh, dc) = m.backward(ds["h"], ds["c"] if case.d_c else None)
        res = {"h'": h1, "c'": c1, "dx": dx, "dh": dh, "dc": dc}
    else:  # RNNCell, GRUCell
        h1 = m.forward(a["x"], st["h"])
        dx, dh = m.backward(ds["h"])
        res = {"h'": h1, "dx": dx, "dh": dh}
    res.update({f"grad {k}": v for k, v in m.grads.items()})
    return res


def _torch_call(case: Fixed):
    """torch's way of running scratch's extensions: packed sequences for ``lengths``, k steps
    at a time with the states detached between chunks for ``truncate``."""
    bf = case.kwargs.get("batch_first", False)
    if case.lengths is not None:
        from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

        def call(module, x, h0):
            packed = pack_padded_sequence(x, torch.tensor(case.lengths), batch_first=bf, enforce_sorted=False)
            out, h_n = module(packed, h0)
            return pad_packed_sequence(out, batch_first=bf, total_length=case.T)[0], h_n

        return call
    if case.truncate is not None:

        def call(module, x, h0):
            axis, chunks, h = (1 if bf else 0), [], h0
            for start in range(0, case.T, case.truncate):
                if start:  # the gradient stops here: truncated BPTT
                    h = tuple(s.detach() for s in h) if isinstance(h, tuple) else h.detach()
                out, h = module(x.narrow(axis, start, min(case.truncate, case.T - start)), h)
                chunks.append(out)
            return torch.cat(chunks, dim=axis), h

        return call
    return None


def run_torch(case: Fixed, a: dict) -> dict:
    kw = case.kwargs
    if kw.get("nonlinearity") == "identity":
        module = LoopRNN(**kw)
        load_weights(module, a["params"])
    else:
        module = build(case.module, a["params"], **kw)
    st, ds = a["states"], a["d_states"]
    if not case.has_h0:  # scratch got None: zeros, whose gradient is still compared
        st = {k: np.zeros_like(v) for k, v in st.items()}
    if case.module == "LSTMCell" and not case.d_c:
        ds = dict(ds, c=np.zeros_like(ds["c"]))
    states = (st["h"], st["c"]) if case.is_lstm else st["h"]
    d_states = (ds["h"], ds["c"]) if case.is_lstm else ds["h"]
    if case.is_cell:
        outs, in_grads, pgrads = vjp(module, (a["x"], states), (d_states,) if not case.is_lstm else d_states)
        names = ["h'", "c'"] if case.is_lstm else ["h'"]
        in_names = ["dx", "dh", "dc"] if case.is_lstm else ["dx", "dh"]
    else:
        outs, in_grads, pgrads = vjp(module, (a["x"], states), (a["d_out"], d_states), _torch_call(case))
        names = ["output", "h_n", "c_n"] if case.is_lstm else ["output", "h_n"]
        in_names = ["dx", "dh0", "dc0"] if case.is_lstm else ["dx", "dh0"]
    ref = dict(zip(names, outs))
    ref.update(zip(in_names, in_grads))
    ref.update({f"grad {k}": v for k, v in pgrads.items()})
    return ref


def comparisons(case: Fixed):
    a = materialize(case)
    mine, ref = run_scratch(case, a), run_torch(case, a)
    assert list(mine) == list(ref), f"{case.name}: scratch returned {list(mine)}, torch {list(ref)}"
    return [compare(name, mine[name], ref[name], dtype=DTYPES[case.dtype]) for name in ref], mine


@pytest.mark.parametrize("case", FIXED, ids=[c.name for c in FIXED])
def test_scratch_matches_torch_on_fixed_case(case):
    cs, mine = comparisons(case)
    bad = [c for c in cs if not c.passed]
    assert not bad, f"{case.name}: " + "\n".join(format_comparison(c) for c in bad)
    # Nothing is up- or down-cast (the suite runs scratch strict on dtypes).
    wrong = {k: v.dtype for k, v in mine.items() if v.dtype != DTYPES[case.dtype]}
    assert not wrong, f"{case.name}: results not in {case.dtype}: {wrong}"


def test_fixed_rows_have_margin():
    """The table is only a fair test if a correct scratch passes by a wide margin: every
    difference is at most 10 % of its budget (measured with OpenBLAS on x86-64: 0.6 % at
    most, the bias gradients of rnn_tanh_saturated_three_layers, where saturated tanh makes
    the terms of the sum over time and batch cancel), so the rows stay green on another BLAS
    or summation order, and an error near the budget is a real one."""
    worst = max((c.normwise / c.rtol, case.name, c.tensor) for case in FIXED for c in comparisons(case)[0])
    assert worst[0] <= 0.1, f"{worst[1]}: {worst[2]} uses {worst[0]:.3g} of its budget"


def test_large_rows_cross_block_boundaries():
    """The large-layer rows really run the blocked backward with several blocks (so a
    change of driver.block_steps or of its constant must resize them, not silently stop
    testing the block boundaries)."""
    from rnn_parity.scratch import driver

    for c in FIXED:
        if "large_layer" in c.name:
            H = c.kwargs["hidden_size"]
            row = c.B * (H if c.module == "RNN" else 4 * H)  # the values one step spans
            block = driver.block_steps(row)
            assert block < c.T and c.T % block != 0 or block == 1, f"{c.name}: blocks of {block} for T={c.T}"


def test_unit_rows_really_run_side_by_side():
    """The ``threads`` rows really split into units in threads (blocks of rows, both
    directions), and a row with ``lengths`` really stays serial (so a change of
    scratch.parallel.plan must resize them, not silently stop testing the parallel path)."""
    for c in FIXED:
        if c.threads is None:
            continue
        a = materialize(c)
        m = getattr(scratch, c.module)(**c.kwargs)
        m.params = dict(a["params"])
        lengths = None if c.lengths is None else np.array(c.lengths)
        with parallel.configured(threads=c.threads, min_values=1):
            m.forward(a["x"], lengths=lengths)
        cache = m._cache[0]
        D = 2 if c.kwargs.get("bidirectional") else 1
        if c.lengths is not None:
            assert not cache.parallel and cache.blocks == [slice(None)], c.name
            continue
        assert cache.parallel, c.name
        assert len(cache.blocks) == max(1, c.threads // D), f"{c.name}: {cache.blocks}"
        covered = np.concatenate([np.arange(c.B)[rows] for rows in cache.blocks])
        assert covered.tolist() == list(range(c.B)), f"{c.name}: blocks {cache.blocks} do not tile the batch"


def test_units_split_by_gate_values_per_row():
    """With the default threshold (scratch.parallel.MIN_VALUES gate values per unit and
    step), a layer splits by its gate width: 4H for an LSTM, H for the RNN. At B = 8,
    H = 256, two directions: the LSTM's 8 x 1024 values per direction run side by side,
    the RNN's 8 x 256 stay serial."""
    x = np.zeros((2, 8, 3))
    for name, expected in (("LSTM", True), ("RNN", False)):
        m = getattr(scratch, name)(input_size=3, hidden_size=256, bidirectional=True)
        with parallel.configured(threads=2):
            m.forward(x)
        assert m._cache[0].parallel is expected, name


def test_table_covers_every_option():
    """Every option named in the module docstring has a row (a mutant of an option's code path
    can only be killed by a row that takes it)."""
    seen = set()
    for c in FIXED:
        kw = c.kwargs
        seen |= {c.module, c.dtype, kw.get("nonlinearity", "tanh") if c.module.startswith("RNN") else None}
        seen |= {f"layers={kw.get('num_layers', 1)}", f"bidirectional={kw.get('bidirectional', False)}",
                 f"batch_first={kw.get('batch_first', False)}", f"bias={kw.get('bias', True)}",
                 f"h0={c.has_h0}", f"proj={bool(kw.get('proj_size'))}"}
        seen |= {f"lengths:{c.module}" if c.lengths else None, f"truncate:{c.module}" if c.truncate else None}
    need = {"RNN", "LSTM", "GRU", *CELLS, "float64", "float32", "tanh", "relu", "identity", "layers=1", "layers=2",
            "bidirectional=True", "bidirectional=False", "batch_first=True", "batch_first=False", "bias=True",
            "bias=False", "h0=True", "h0=False", "proj=True", "proj=False",
            *(f"{ext}:{m}" for ext in ("lengths", "truncate") for m in ("RNN", "LSTM", "GRU"))}
    assert need <= seen, f"no row for {sorted(need - seen)}"


# ---------------------------------------------------------------------------------------
# The pure-function API (scratch.functional) on the same rows: time-major, a spec instead
# of a class, states always given (zeros for the rows whose h0 is None).
# ---------------------------------------------------------------------------------------
SPECS = {"RNN": functional.RNNSpec, "LSTM": functional.LSTMSpec, "GRU": functional.GRUSpec}
SEQUENCE_ROWS = [c for c in FIXED if not c.is_cell]


def run_functional(case: Fixed, a: dict) -> dict:
    kw = dict(case.kwargs)
    bf = kw.pop("batch_first", False)
    spec = SPECS[case.module](**kw)
    tm = (lambda v: v.swapaxes(0, 1)) if bf else (lambda v: v)
    st = a["states"] if case.has_h0 else {k: np.zeros_like(v) for k, v in a["states"].items()}
    h0 = (st["h"], st["c"]) if case.is_lstm else st["h"]
    d_h_n = (a["d_states"]["h"], a["d_states"]["c"]) if case.is_lstm else a["d_states"]["h"]
    lengths = None if case.lengths is None else np.array(case.lengths)
    out, h_n, cache = functional.forward(spec, a["params"], tm(a["x"]), h0, lengths)
    dx, dh0, grads = functional.backward(spec, a["params"], cache, tm(a["d_out"]), d_h_n, case.truncate)
    res = {"output": tm(out)}
    if case.is_lstm:
        res.update({"h_n": h_n[0], "c_n": h_n[1], "dx": tm(dx), "dh0": dh0[0], "dc0": dh0[1]})
    else:
        res.update({"h_n": h_n, "dx": tm(dx), "dh0": dh0})
    res.update({f"grad {k}": v for k, v in grads.items()})
    assert list(functional.param_shapes(spec)) == list(a["params"]), "param_shapes: not torch's names/order"
    assert all(functional.param_shapes(spec)[k] == v.shape for k, v in a["params"].items()), "param_shapes"
    return res


@pytest.mark.parametrize("case", SEQUENCE_ROWS, ids=[c.name for c in SEQUENCE_ROWS])
def test_functional_api_matches_torch(case):
    a = materialize(case)
    mine, ref = run_functional(case, a), run_torch(case, a)
    assert list(mine) == list(ref), f"{case.name}: functional returned {list(mine)}, torch {list(ref)}"
    bad = [c for c in (compare(n, mine[n], ref[n], dtype=DTYPES[case.dtype]) for n in ref) if not c.passed]
    assert not bad, f"{case.name}: " + "\n".join(format_comparison(c) for c in bad)


def test_elman_cell_functions_with_their_defaults():
    """``cell_forward`` / ``cell_backward`` called with their documented defaults (tanh, bias)
    are torch.nn.RNNCell(bias=True, nonlinearity="tanh")."""
    case = next(c for c in FIXED if c.name == "rnncell_tanh")
    a = materialize(case)
    p, x, h, d = a["params"], a["x"], a["states"]["h"], a["d_states"]["h"]
    h1 = functional.cell_forward(x, h, p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"])
    dx, dh, grads = functional.cell_backward(d, x, h, h1, p["weight_ih"], p["weight_hh"])
    mine = {"h'": h1, "dx": dx, "dh": dh, **{f"grad {k}": v for k, v in grads.items()}}
    ref = run_torch(case, a)
    assert list(mine) == list(ref)
    bad = [c for c in (compare(n, mine[n], ref[n], dtype=np.float64) for n in ref) if not c.passed]
    assert not bad, "\n".join(format_comparison(c) for c in bad)


# ---------------------------------------------------------------------------------------
# "Nothing here up- or down-casts" (scratch.driver): every floating array a cell or its tape
# holds, at every stage of the driver's protocol, has the input's dtype. A float64 buffer
# in a float32 run computes part of the step in float64: the values stay inside float32's
# budget (more precise, not less), so only this check sees it; it costs memory and speed.
# ---------------------------------------------------------------------------------------
def _floating_arrays(obj, path="", depth=0):
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind == "f":
            yield path, obj.dtype
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _floating_arrays(v, f"{path}[{k!r}]", depth)
    elif isinstance(obj, (tuple, list)):
        for i, v in enumerate(obj):
            yield from _floating_arrays(v, f"{path}[{i}]", depth)
    elif depth == 0 and hasattr(obj, "__dict__"):
        for k, v in vars(obj).items():
            yield from _floating_arrays(v, f"{path}.{k}", depth + 1)


TAPE_SPECS = [
    functional.RNNSpec(3, 4, nonlinearity="tanh"),
    functional.RNNSpec(3, 4, nonlinearity="relu", bias=False),
    functional.LSTMSpec(3, 4),
    functional.LSTMSpec(3, 4, proj_size=2, bias=False),
    functional.GRUSpec(3, 4),
    functional.GRUSpec(3, 4, bias=False),
]


@pytest.mark.parametrize("out_buffer", [False, True], ids=["own_buffer", "driver_buffer"])
@pytest.mark.parametrize("spec", TAPE_SPECS, ids=lambda s: f"{type(s).__name__}_{'bias' if s.bias else 'no_bias'}")
def test_tapes_keep_float32(spec, out_buffer):
    dt, T, B = np.float32, 3, 2
    rng = np.random.default_rng(0)
    cell = functional.make_cell(spec)
    w = {k: (rng.uniform(-0.5, 0.5, s)).astype(dt) for k, s in cell.param_shapes(spec.input_size).items()}
    xs = rng.uniform(-1, 1, (T, B, spec.input_size)).astype(dt)
    init = tuple(rng.uniform(-1, 1, (B, n)).astype(dt) for n in cell.state_sizes)
    out = np.empty((T + 1, B, cell.state_sizes[0]), dtype=dt) if out_buffer else None
    tape = cell.tape(w, xs, init, out)

    def check(stage, *objs):
        wrong = [(p, d) for o in objs for p, d in _floating_arrays(o) if d != dt]
        assert not wrong, f"{type(spec).__name__}, {stage}: float64 arrays in a float32 run: {wrong}"

    check("after tape()", tape, cell)
    for s in range(T):
        tape.step(s)
    check("after the steps", tape, cell)
    tape.end_forward()
    tape.begin_backward(w)
    check("after begin_backward", tape, cell)
    d = [rng.standard_normal((B, n)).astype(dt) for n in cell.state_sizes]
    for s in range(T - 1, -1, -1):
        d = tape.backward_step(s, d)
        check(f"backward_step({s})", tape, d)
    dx, grads = tape.weight_grads(xs)
    check("weight_grads", dx, grads)

"""planted/gated.py against torch directly (no harness in between).

The correct LSTM, GRU, LSTMCell and GRUCell of ``planted/gated.py`` are what the planted
bugs are measured from and what the conventions' adapters wrap, so they are checked here
without the harness: torch.nn.<Module> in float64, weights copied by name, one autograd
backward of sum(output * upstream) over every returned tensor. The tolerance is 1e-10
relative to the tensor's largest magnitude: both sides are float64 computations of the
same O(1) quantities (weights in [-1, 1], a few steps and layers), whose roundoff is around
1e-14 here; a wrong derivative is off by O(1).

Also here: each planted bug of ``GATED_PLANTED`` differs from torch first (in the family's
causal order) at the tensor its row pins, on its row's configuration, and the correct
class of its family does not differ there.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from parity_tests.planted import gated as G

TOL = 1e-10
MODULES = {"lstm": "LSTM", "gru": "GRU", "lstm_cell": "LSTMCell", "gru_cell": "GRUCell"}
CORRECT = {"lstm": G.LSTM, "gru": G.GRU, "lstm_cell": G.LSTMCell, "gru_cell": G.GRUCell}
# The names of the results, in causal order (the families' records use the same words).
RESULTS = {
    "lstm": ("output", "h_n", "c_n", "dx", "dh0", "dc0"),
    "gru": ("output", "h_n", "dx", "dh0"),
    "lstm_cell": ("h_next", "c_next", "dx", "dh", "dc"),
    "gru_cell": ("h_next", "dx", "dh"),
}


def _arrays(family, cfg, rng, dtype=np.float64, states=True):
    """x, the initial states (None when ``states`` is False) and the upstream gradients."""
    B, I, H = cfg["batch"], cfg["input_size"], cfg["hidden_size"]
    if family in ("lstm", "gru"):
        T, L = cfg["seq_len"], cfg.get("num_layers", 1)
        D = 2 if cfg.get("bidirectional") else 1
        R = cfg.get("proj_size", 0) or H
        bf = cfg.get("batch_first", False)
        x = rng.uniform(-1, 1, (B, T, I) if bf else (T, B, I))
        sizes = (R, H) if family == "lstm" else (R,)
        st = [rng.uniform(-1, 1, (L * D, B, n)) for n in sizes]
        ups = [rng.standard_normal((B, T, D * R) if bf else (T, B, D * R))] + [rng.standard_normal(s.shape) for s in st]
    else:
        x = rng.uniform(-1, 1, (B, I))
        st = [rng.uniform(-1, 1, (B, H)) for _ in range(2 if family == "lstm_cell" else 1)]
        ups = [rng.standard_normal(s.shape) for s in st]
    cast = lambda a: a.astype(dtype)  # noqa: E731
    return cast(x), ([cast(s) for s in st] if states else [None] * len(st)), [cast(u) for u in ups]


def _torch(family, kw, params, x, states, ups):
    m = getattr(torch.nn, MODULES[family])(**kw, dtype=torch.float64)
    with torch.no_grad():
        for name, p in m.named_parameters():
            p.copy_(torch.tensor(np.asarray(params[name], dtype=np.float64)))
    xt = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    # A state left out (None) is zeros; it is shaped like its upstream gradient (h_n's, c_n's).
    like = ups[1:] if family in ("lstm", "gru") else ups
    st = [torch.tensor(np.zeros(u.shape) if s is None else np.asarray(s, dtype=np.float64), requires_grad=True)
          for s, u in zip(states, like)]
    if family == "lstm":
        out, (h, c) = m(xt, tuple(st))
        outs = [out, h, c]
    elif family == "gru":
        out, h = m(xt, st[0])
        outs = [out, h]
    elif family == "lstm_cell":
        outs = list(m(xt, tuple(st)))
    else:
        outs = [m(xt, st[0])]
    loss = sum((o * torch.tensor(np.asarray(u, dtype=np.float64))).sum() for o, u in zip(outs, ups))
    loss.backward()
    res = [o.detach().numpy() for o in outs] + [xt.grad.numpy()] + [s.grad.numpy() for s in st]
    return res, {n: p.grad.numpy() for n, p in m.named_parameters()}


def _mine(cls, family, kw, params, x, states, ups):
    impl = cls(**kw)
    for name, value in params.items():
        impl.params[name] = value.copy()
    if family == "lstm":
        out, (h, c) = impl.forward(x, None if states[0] is None else tuple(states))
        dx, (dh, dc) = impl.backward(*ups)
        res = [out, h, c, dx, dh, dc]
    elif family == "gru":
        out, h = impl.forward(x, states[0])
        dx, dh = impl.backward(*ups)
        res = [out, h, dx, dh]
    elif family == "lstm_cell":
        h, c = impl.forward(x, None if states[0] is None else tuple(states))
        dx, (dh, dc) = impl.backward(*ups)
        res = [h, c, dx, dh, dc]
    else:
        h = impl.forward(x, states[0])
        dx, dh = impl.backward(ups[0])
        res = [h, dx, dh]
    return res, dict(impl.grads)


def _module_kwargs(family, cfg):
    keys = ("input_size", "hidden_size", "bias") + (
        ("num_layers", "batch_first", "bidirectional") if family in ("lstm", "gru") else ()) + (
        ("proj_size",) if family == "lstm" else ())
    return {k: cfg[k] for k in keys if k in cfg}


def differences(cls, family, cfg, seed=0, dtype=np.float64, states=True):
    """[(tensor, relative error)] in causal order: results, then grads in torch's order."""
    rng = np.random.default_rng(seed)
    kw = _module_kwargs(family, cfg)
    shapes = {n: p.shape for n, p in CORRECT[family](**kw).params.items()}
    params = {n: rng.uniform(-1, 1, s).astype(dtype) for n, s in shapes.items()}
    x, st, ups = _arrays(family, cfg, rng, dtype, states)
    mine, mine_grads = _mine(cls, family, kw, params, x, st, ups)
    ref, ref_grads = _torch(family, kw, params, x, st, ups)
    assert list(mine_grads) == list(ref_grads), "grads keyed (and ordered) like named_parameters()"
    names = list(RESULTS[family]) + [f"grad {n}" for n in ref_grads]
    out = []
    for name, a, b in zip(names, mine + [mine_grads[n] for n in ref_grads], ref + list(ref_grads.values())):
        a = np.asarray(a)
        assert a.shape == b.shape, f"{name}: shape {a.shape}, torch's {b.shape}"
        assert a.dtype == dtype, f"{name}: dtype {a.dtype}, expected {np.dtype(dtype)}"
        scale = max(float(np.abs(b).max()), 1e-300)
        out.append((name, float(np.abs(a.astype(np.float64) - b).max()) / scale))
    return out


def _random_config(family, rng):
    cfg = dict(input_size=int(rng.integers(1, 5)), hidden_size=int(rng.integers(1, 6)), batch=int(rng.integers(1, 4)),
               bias=bool(rng.integers(2)))
    if family in ("lstm", "gru"):
        cfg.update(seq_len=int(rng.integers(1, 5)), num_layers=int(rng.integers(1, 4)),
                   batch_first=bool(rng.integers(2)), bidirectional=bool(rng.integers(2)))
        if family == "lstm" and cfg["hidden_size"] > 1 and rng.integers(2):
            cfg["proj_size"] = int(rng.integers(1, cfg["hidden_size"]))
    return cfg


@pytest.mark.parametrize("family", list(MODULES))
def test_correct_gated_classes_match_torch(family):
    """60 random configurations per family (every option drawn: proj_size, bidirectional,
    1-3 layers, batch_first, bias off, states None), float64, within 1e-10 relative."""
    rng = np.random.default_rng(12)
    for k in range(60):
        cfg = _random_config(family, rng)
        diffs = differences(CORRECT[family], family, cfg, seed=k, states=bool(k % 4))
        bad = [(n, e) for n, e in diffs if e > TOL]
        assert not bad, f"{family} {cfg} seed={k}: {bad}"


@pytest.mark.parametrize("family", list(MODULES))
def test_correct_gated_classes_compute_in_float32(family):
    """float32 in, float32 out (checked in ``differences``), and near torch's float64
    answer at float32 precision (1e-4 relative: a few hundred roundings of 6e-8 each)."""
    rng = np.random.default_rng(32)
    for k in range(10):
        cfg = _random_config(family, rng)
        bad = [(n, e) for n, e in differences(CORRECT[family], family, cfg, seed=k, dtype=np.float32) if e > 1e-4]
        assert not bad, f"{family} {cfg} seed={k}: {bad}"


def test_unbatched_input_is_the_batch_of_one():
    for family, cls in CORRECT.items():
        kw = dict(input_size=3, hidden_size=4) | ({"num_layers": 2, "bidirectional": True} if family in ("lstm", "gru") else {})
        a, b = cls(**kw), cls(**kw)
        rng = np.random.default_rng(0)
        x = rng.uniform(-1, 1, (5, 3) if family in ("lstm", "gru") else (3,))
        xb = x[:, None] if family in ("lstm", "gru") else x[None]
        ra, rb = a.forward(x), b.forward(xb)
        flat = lambda r: [np.asarray(v) for v in (r if isinstance(r, tuple) else (r,)) for v in (v if isinstance(v, tuple) else (v,))]  # noqa: E731
        for u, v in zip(flat(ra), flat(rb)):
            np.testing.assert_allclose(u, v.squeeze(1) if family in ("lstm", "gru") and v.ndim == 3 else v.reshape(u.shape), rtol=1e-14)
        ups = [np.ones_like(u) for u in flat(ra)]
        ga = a.backward(*ups)
        gb = b.backward(*[np.ones_like(u) for u in flat(rb)])
        for u, v in zip(flat(ga), flat(gb)):
            np.testing.assert_allclose(u, v.reshape(u.shape), rtol=1e-14)
        for name in a.grads:
            np.testing.assert_allclose(a.grads[name], b.grads[name], rtol=1e-14)


def _entry_config(entry):
    return dict(G.GATED_BASE[entry.family], **entry.config)


@pytest.mark.parametrize("entry", G.GATED_PLANTED, ids=lambda e: e.name)
def test_planted_gated_bug_first_differs_where_pinned(entry):
    cfg = _entry_config(entry)
    correct = differences(CORRECT[entry.family], entry.family, cfg)
    assert all(e <= TOL for _, e in correct), f"the correct {entry.family} differs on {cfg}: {correct}"
    diffs = differences(entry.cls, entry.family, cfg)
    first = next((n for n, e in diffs if e > 1e-6), None)
    assert first == entry.first, f"{entry.name} on {cfg}: first differs {first}, pinned {entry.first}: {diffs}"


def test_planted_table_has_at_least_15_bugs_across_the_four_families():
    assert len(G.GATED_PLANTED) >= 15
    assert {e.family for e in G.GATED_PLANTED} == set(MODULES)
    assert len({e.name for e in G.GATED_PLANTED}) == len(G.GATED_PLANTED)
    assert len({e.cls for e in G.GATED_PLANTED}) == len(G.GATED_PLANTED)


def test_readme_lists_every_planted_gated_bug_with_its_suspect():
    """The README's table of planted gated bugs is this table, row for row (it once listed 26
    of 46)."""
    from pathlib import Path

    readme = Path(__file__).resolve().parents[2] / "README.md"
    if not readme.exists():
        pytest.skip("README.md is not shipped with an installed package: a repository check")
    text = readme.read_text(encoding="utf-8")
    table = text[text.index("| planted class | family | first differing tensor |"):]
    table = table[: table.index("\n\n")]  # the table alone: no stale row may stay in it either
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    listed = {line.split("`")[1]: line for line in rows}
    assert sorted(listed) == sorted(e.cls.__name__ for e in G.GATED_PLANTED)
    for e in G.GATED_PLANTED:
        assert e.cls.__name__ in listed, f"README's planted table lacks {e.cls.__name__}"
        assert f"| {e.suspect} |" in listed[e.cls.__name__], f"README's row of {e.cls.__name__}: not its suspect"
    assert f"and {len(G.GATED_PLANTED)} subclasses" in readme.read_text(encoding="utf-8")


@pytest.mark.parametrize("entry", [e for e in G.GATED_PLANTED if e.name in (
    "lstm_cell_state_not_carried", "gru_missing_dh_through_z")], ids=lambda e: e.name)
def test_bugs_that_need_two_steps_show_at_one_step_only_in_the_initial_state_gradient(entry):
    """The rows say "T >= 2" for these: at T = 1 dx is right and only dh0 / dc0 differ."""
    diffs = differences(entry.cls, entry.family, dict(_entry_config(entry), seq_len=1))
    failing = [n for n, e in diffs if e > 1e-6]
    assert failing == (["dc0"] if entry.family == "lstm" else ["dh0"]), diffs


@pytest.mark.parametrize("entry", [e for e in G.GATED_PLANTED if e.invisible is not None], ids=lambda e: e.name)
def test_planted_gated_bug_needs_what_its_row_says(entry):
    """Where the row says the bug is invisible (proj_size = 0, unidirectional, no bias), it
    computes torch's numbers: the configuration in ``shows`` is needed, not decoration."""
    cfg = dict(_entry_config(entry), **entry.invisible)
    bad = [(n, e) for n, e in differences(entry.cls, entry.family, cfg) if e > TOL]
    assert not bad, f"{entry.name} on {cfg}: {bad}"

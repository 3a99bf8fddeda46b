"""scratch's units side by side (``scratch.parallel``): a layer's directions and blocks of
batch rows run as independent recurrences in threads when BLAS has more than one thread.

The suite runs with one BLAS thread (xdist workers), so the parity rows see the serial
path; here the parallel path is forced (``parallel.configured(threads=k, min_values=1)``:
split down to one value per unit) and must give what the serial path gives, for every
family and every drawn configuration. The two differ only in how each weight gradient's
sum over (time, batch) rows is grouped (one sum per block of rows, then the blocks added),
so they are compared with the suite's one tolerance rule and the case's running error
bounds, as the other metamorphic properties are. ``test_scratch_fixed.py`` runs the
parallel path against torch on fixed rows (and is what ``make mutation`` runs per mutant).
"""

import os
import select
import signal
import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from parity_tests.core.strategies import cases
from parity_tests.families.gru import GRU as GRU_FAMILY
from parity_tests.families.lstm import LSTM as LSTM_FAMILY
from parity_tests.families.rnn import RNN as RNN_FAMILY
from parity_tests.tests.test_gated_metamorphic import _d_finals, _module, _names, _run, _states, assert_same
from rnn_parity.scratch import GRU, LSTM, RNN, parallel

KINDS = {"rnn": (RNN_FAMILY, RNN), "lstm": (LSTM_FAMILY, LSTM), "gru": (GRU_FAMILY, GRU)}


@pytest.mark.parametrize("kind", list(KINDS))
@given(data=st.data())
def test_units_side_by_side_equal_the_serial_run(kind, data):
    fam, Layer = KINDS[kind]
    case = data.draw(cases(fam), label="case")
    threads = data.draw(st.integers(2, 4), label="threads")
    a = case.materialize()
    m = fam.bounds(case, a)
    args = (a["x"], _states(kind, a), a["d_output"], _d_finals(kind, a))
    serial = _run(kind, _module(Layer, case, a), *args)
    with parallel.configured(threads=threads, min_values=1):
        layer = _module(Layer, case, a)
        split = _run(kind, layer, *args)
    D = case.config.num_directions
    assert layer._cache[0].parallel == (D * len(layer._cache[0].blocks) > 1)
    assert_same("output", split[0], serial[0], m["output"])
    for i, name in enumerate(_names(kind)[0]):
        assert_same(name, split[1][i], serial[1][i], m[name])
    assert_same("dx", split[2], serial[2], m["dx"])
    for i, name in enumerate(_names(kind)[1]):
        assert_same(name, split[3][i], serial[3][i], m[name])
    assert list(split[4]) == list(serial[4])  # torch's order, whatever the units
    for k, v in serial[4].items():
        assert_same(f"grad {k}", split[4][k], v, m[f"grad {k}"])


# ---------------------------------------------------------------------------------------
# The plan and the runner.
# ---------------------------------------------------------------------------------------
@given(batch=st.integers(1, 64), directions=st.sampled_from([1, 2]), width=st.integers(1, 2048),
       threads=st.integers(1, 8), min_values=st.integers(1, 1 << 15))
def test_plan_tiles_the_batch_and_respects_the_threshold(batch, directions, width, threads, min_values):
    with parallel.configured(threads=threads, min_values=min_values):
        blocks, par = parallel.plan(batch, directions, width)
    rows = [np.arange(batch)[b] for b in blocks]
    assert np.concatenate(rows).tolist() == list(range(batch))  # every row once, in order
    if not par:
        assert blocks == [slice(None)]
        return
    assert threads > 1 and directions * len(blocks) > 1
    assert directions * len(blocks) <= threads  # never more units than threads
    assert min(len(r) for r in rows) * width >= min_values  # every unit carries enough work
    assert max(len(r) for r in rows) - min(len(r) for r in rows) <= 1  # equal blocks


def test_plan_is_serial_with_one_thread_and_for_small_steps():
    with parallel.configured(threads=1, min_values=1):
        assert parallel.plan(64, 2, 1024) == ([slice(None)], False)
    with parallel.configured(threads=2):  # the default threshold: an Elman step of 32 x 128 stays serial
        assert parallel.plan(32, 2, 128) == ([slice(None)], False)
        assert parallel.plan(32, 2, 4 * 128) == ([slice(None)], True)  # an LSTM's: directions side by side
        assert parallel.plan(64, 1, 4 * 256) == ([slice(0, 32), slice(32, 64)], True)  # rows in 2 blocks
        assert parallel.plan(8, 1, 4 * 64) == ([slice(None)], False)  # long: 4 rows a unit is too little


def test_run_keeps_order_propagates_errors_and_never_nests():
    inner = []

    def job(k):
        def f():
            # a parallel region inside a unit runs serially (the lock is taken), not in a deadlock
            inner.append(parallel.run([lambda: threading.current_thread().name] * 2, True))
            return k

        return f

    with parallel.configured(threads=3):
        assert parallel.run([job(k) for k in range(5)], True) == list(range(5))
        assert all(names[0] == names[1] for names in inner)  # each nested pair ran in one thread

        def boom():
            raise ValueError("unit failed")

        with pytest.raises(ValueError, match="unit failed"):
            parallel.run([job(0), boom], True)
        assert parallel.run([job(7)], True) == [7]  # the lock was released after the error


@pytest.mark.parametrize("kwargs, message", [
    (dict(threads=0), "threads: expected a positive int, got 0"),
    (dict(threads=2.0), "threads: expected a positive int, got 2.0"),
    (dict(threads=2, min_values=0), "min_values: expected a positive int, got 0"),
])
def test_configured_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        with parallel.configured(**kwargs):
            pass


def test_available_threads_follows_blas():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):
        assert parallel.available_threads() == 1
    with parallel.configured(threads=3):
        assert parallel.available_threads() == 3


# Python 3.12+ warns on any fork of a process with threads; the fork is the point here.
@pytest.mark.filterwarnings("ignore:.*multi-threaded.*fork:DeprecationWarning")
@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_gets_its_own_pool():
    """A child forked after the parent's pool existed has the pool object but not its
    threads: without ``register_at_fork`` its first parallel forward waits forever for
    them (multiprocessing's default start method on Linux is fork)."""
    m = LSTM(input_size=3, hidden_size=4, bidirectional=True)
    x = np.random.default_rng(0).standard_normal((5, 4, 3))
    with parallel.configured(threads=2, min_values=1):
        expected = m.forward(x)[0]
        # The parent's pool with both of its threads started (each job waits for the other)
        # and idle: a child's jobs then go to those two threads, which it does not have.
        both = threading.Barrier(2)
        parallel.run([lambda: both.wait(timeout=30)] * 2, True)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: one parallel forward, then report and leave at once
            try:
                with parallel.configured(threads=2, min_values=1):
                    ok = np.array_equal(m.forward(x)[0], expected)
                os.write(write, b"1" if ok else b"0")
            finally:
                os._exit(0)
    os.close(write)
    ready, _, _ = select.select([read], [], [], 60)
    got = os.read(read, 1) if ready else b""
    os.close(read)
    if not ready:
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    assert got == b"1", "the forked child's parallel forward " + ("hung" if not ready else "differed")

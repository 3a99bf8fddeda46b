"""``make bench``: scratch.RNN vs torch.nn.RNN, forward + backward, on the CPU, same process.

    python -m parity_tests.tools.bench [--out bench/results.json] [--quick] [--threads N]

For each configuration and dtype both sides run a full forward + backward (gradients for
the input, h0 and every parameter, upstream gradients on output and h_n), interleaved one
run each, after a warm-up; the medians and the ratio scratch / torch are reported. Memory:
the BPTT cache scratch keeps between forward and backward (every array the cache refers to,
counted once) against the theoretical minimum, the hidden states of every layer and
direction (L * D * T * B * H values): the input is the caller's, and every other quantity
backward needs can be recomputed from those. Also the peak of everything allocated during
forward + backward (tracemalloc), for scale.

No timing is asserted anywhere in the test suite; this is a report.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch

from rnn_parity.scratch import RNN

from ..core.threads import pin_threads

CONFIGS = [
    # name, T, B, I, H, num_layers, bidirectional, target ratio (issue 5)
    ("tiny", 10, 1, 4, 8, 1, False, 0.5),
    ("seed-sized", 25, 16, 1, 32, 1, False, 0.5),
    ("medium", 100, 64, 32, 256, 1, False, 0.8),
    ("long", 1000, 8, 16, 64, 1, False, 0.8),
    ("deep", 100, 32, 32, 128, 3, True, 0.8),
]


def _pair(T, B, I, H, L, bidir, dtype, seed=0):
    rng = np.random.default_rng(seed)
    D = 2 if bidir else 1
    mine = RNN(I, H, L, bidirectional=bidir, dtype=dtype, seed=seed)
    ref = torch.nn.RNN(I, H, L, bidirectional=bidir, dtype=getattr(torch, np.dtype(dtype).name))
    with torch.no_grad():
        for name, p in ref.named_parameters():
            p.copy_(torch.from_numpy(mine.params[name]))
    x = rng.standard_normal((T, B, I)).astype(dtype)
    h0 = rng.standard_normal((L * D, B, H)).astype(dtype) * 0.1
    d_out = rng.standard_normal((T, B, D * H)).astype(dtype)
    d_hn = rng.standard_normal((L * D, B, H)).astype(dtype)

    def run_scratch():
        mine.forward(x, h0)
        mine.backward(d_out, d_hn)

    xt, h0t = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(h0).requires_grad_(True)
    dot, dht = torch.from_numpy(d_out), torch.from_numpy(d_hn)

    def run_torch():
        ref.zero_grad(set_to_none=True)
        xt.grad = h0t.grad = None
        out, hn = ref(xt, h0t)
        torch.autograd.backward((out, hn), (dot, dht))

    return mine, run_scratch, run_torch, (x, h0, d_out, d_hn)


def _cache_bytes(rnn: RNN, x) -> int:
    """Bytes of every array the BPTT cache refers to, each underlying buffer once, minus
    the caller's own input x."""
    cache = rnn._cache[0]
    seen, total = set(), 0
    arrays = list(cache.layer_inputs) + [hs for layer in cache.hidden for hs in layer]
    for a in arrays:
        base = a
        while isinstance(base.base, np.ndarray):
            base = base.base
        if id(base) in seen or np.shares_memory(base, x):
            continue
        seen.add(id(base))
        total += base.nbytes
    return total


def measure(name, T, B, I, H, L, bidir, target, dtype, quick=False):
    mine, run_scratch, run_torch, (x, h0, *_ ) = _pair(T, B, I, H, L, bidir, dtype)
    for _ in range(2 if quick else 3):  # warm-up: first-call latency, caches, allocator
        run_scratch()
        run_torch()
    t0 = time.perf_counter()
    run_scratch()
    run_torch()
    once = time.perf_counter() - t0
    repeats = max(5, min(41, int((0.6 if quick else 3.0) / max(once, 1e-6))))
    ts, tt = [], []
    for _ in range(repeats):  # interleaved: both sides see the same machine state
        t0 = time.perf_counter()
        run_scratch()
        ts.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        run_torch()
        tt.append(time.perf_counter() - t0)
    D = 2 if bidir else 1
    itemsize = np.dtype(dtype).itemsize
    minimum = L * D * T * B * H * itemsize
    mine.forward(x, h0)
    cache = _cache_bytes(mine, x)
    tracemalloc.start()
    run_scratch()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    ms, mt = statistics.median(ts), statistics.median(tt)
    return dict(config=name, dtype=np.dtype(dtype).name, T=T, B=B, I=I, H=H, num_layers=L, bidirectional=bidir,
                repeats=repeats, scratch_ms=ms * 1e3, torch_ms=mt * 1e3, ratio=ms / mt, target=target,
                meets_target=ms / mt <= target, cache_bytes=cache, min_cache_bytes=minimum,
                cache_ratio=cache / minimum, peak_bytes_fwd_bwd=peak)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="bench/results.json")
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    parser.add_argument("--only", help="run only this configuration")
    parser.add_argument("--threads", type=int, default=1, help="BLAS and torch threads, both sides (default 1)")
    args = parser.parse_args(argv)
    pin_threads(args.threads, override=True)
    machine = dict(
        python=platform.python_version(), numpy=np.__version__, torch=torch.__version__,
        cpu=_cpu_name(), cores=os.cpu_count(), torch_threads=torch.get_num_threads(),
        blas_threads=args.threads,
    )
    print(f"machine: {machine}")
    header = (f"{'config':<11} {'dtype':<8} {'T':>5} {'B':>3} {'I':>3} {'H':>4} {'L':>2} {'D':>2} "
              f"{'scratch ms':>10} {'torch ms':>9} {'ratio':>6} {'target':>6}   {'cache/min':>9} {'fwd+bwd peak':>12}")
    print(header)
    results = []
    for cfg in CONFIGS:
        if args.only and cfg[0] != args.only:
            continue
        for dtype in (np.float32, np.float64):
            r = measure(*cfg, dtype, quick=args.quick)
            results.append(r)
            print(f"{r['config']:<11} {r['dtype']:<8} {r['T']:>5} {r['B']:>3} {r['I']:>3} {r['H']:>4} "
                  f"{r['num_layers']:>2} {2 if r['bidirectional'] else 1:>2} {r['scratch_ms']:>10.3f} "
                  f"{r['torch_ms']:>9.3f} {r['ratio']:>6.2f} {r['target']:>6.2f}{'' if r['meets_target'] else ' !'}  "
                  f"{r['cache_ratio']:>9.3f} {r['peak_bytes_fwd_bwd'] / 2**20:>10.2f} MB", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine, "results": results}, indent=1))
    print(f"wrote {out}")
    return 0


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


if __name__ == "__main__":
    sys.exit(main())

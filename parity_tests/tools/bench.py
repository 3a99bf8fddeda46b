"""``rnn-parity bench``: scratch's RNN, LSTM and GRU against torch's, forward + backward, CPU.

    rnn-parity bench [--threads 1[,2]] [--family rnn,lstm,gru] [--only tiny,seed,...]
                     [--dtype float32[,float64]] [--repeats K] [--out bench/results.json]

What is timed: one full forward + backward (gradients for x, h0 (and c0) and every
parameter, upstream gradients on the output and on the final states), float32 by default,
at five sizes (T, B, I, H, layers x directions):

    tiny (10, 1, 4, 8, 1x1)   seed (25, 16, 1, 32, 1x1)   medium (100, 64, 32, 256, 1x1)
    long (1000, 8, 16, 64, 1x1)   deep (100, 32, 32, 128, 3x2: 3 layers, bidirectional)

How: each side runs in ITS OWN PROCESS (this module re-run with a hidden worker flag), so
neither side's thread pools spin on the other's cores; both processes are pinned to the
same thread count (environment variables, threadpoolctl for NumPy's BLAS and every OpenMP
pool, torch.set_num_threads) and report the counts they actually run with (kept in the
JSON). Each measurement: two warm-up runs, then K timed runs (default: as many as fit in
about 1.5 s, 5 to 41), the median is reported. The two sides run one after the other, so
other load on the machine can favour either; compare medians of repeated bench runs.

Reported per (family, size, threads):

* ratio = scratch ms / torch ms, beside the target (lower is better);
* scratch's GEMM floor: the time of its matrix products alone, replayed in the scratch
  process with the same shapes and layouts scratch uses (per layer and direction: the input
  projection (T*B, I_k) x (I_k, G*H) (the gated cells: in blocks of steps that fit in
  cache, as scratch does it), T recurrent products (B, H) x (H, G*H), T carried
  products (B, G*H) x (G*H, H), and the stacked dW_ih, dW_hh and dx products; G = 1, 4, 3
  gates for RNN, LSTM, GRU), and the fraction of it reached, floor / scratch (1.0 = scratch
  is nothing but its GEMMs). Target at medium and deep: scratch within 1.15x of the floor;
* memory: the tracemalloc peak of scratch's forward + backward beside the activations a
  BPTT must keep (below), and the bytes scratch's cache really holds (every array the cache
  refers to, each buffer once) over the minimum.

Activations that must be kept, per layer and direction, in values (x, the caller's input,
is not counted: it is allocated before tracing starts, and the input of every layer above
the first is the output, i.e. the hidden states, of the layer below, counted there):

    RNN   (T+1) B H                      h_0 .. h_T
    LSTM  2 (T+1) B H + 4 T B H          h and c, and the four gates i, f, g, o
    GRU   (T+1) B H + 3 T B H + T B H    h, the three gates r, z, n, and q = W_hn h + b_hn

``min_cache_bytes`` is the same without the initial states (those are the caller's too),
so for an RNN the minimum cache is L * D * T * B * H values and ``cache_ratio`` shows the
cost of scratch's two h0 rows per layer, (T+2)/T.

Writes JSON (``--out``, default bench/results.json) with the machine (CPU model, cores,
Python, NumPy, torch, the BLAS as threadpoolctl reports it) and every result, and prints a
markdown table. A benchmark, never a timed test: no timing is asserted anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from functools import partial
from pathlib import Path

import numpy as np

from . import positive_int

SIZES = {  # name: (T, B, I, H, num_layers, bidirectional)
    "tiny": (10, 1, 4, 8, 1, False),
    "seed": (25, 16, 1, 32, 1, False),
    "medium": (100, 64, 32, 256, 1, False),
    "long": (1000, 8, 16, 64, 1, False),
    "deep": (100, 32, 32, 128, 3, True),
}
ALIASES = {"seed-sized": "seed"}
FAMILIES = ("rnn", "lstm", "gru")
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
TORCH_MODULE = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
SCRATCH_CLASS = TORCH_MODULE
DTYPES = ("float32", "float64")
# ratio scratch / torch to reach (at most), per family and size
TARGETS = {
    "rnn": dict(tiny=0.5, seed=0.5, medium=0.85, long=0.8, deep=0.85),
    "lstm": dict(tiny=1.0, seed=1.5, medium=1.0, long=2.0, deep=1.0),
    "gru": dict(tiny=0.5, seed=0.5, medium=0.9, long=0.6, deep=0.9),
}
FLOOR_TARGETS = {"medium": 1.15, "deep": 1.15}  # scratch time at most this many times its GEMM floor
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
TIME_BUDGET_S = 1.5  # per measurement, when --repeats is not given
RESULT_RTOL = 1e-3  # both sides' checksums must agree this well (float32): the same computation was timed


# ---------------------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------------------
def _csv(kind, choices=None, aliases=None):
    def parse(text: str):
        items = [s.strip() for s in str(text).split(",") if s.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {kind}, got {text!r}")
        out = []
        for item in items:
            if kind == "positive integers":
                value = positive_int(item)
            else:
                value = (aliases or {}).get(item.lower(), item.lower())
                if value not in choices:
                    raise argparse.ArgumentTypeError(f"{item!r} is not one of {', '.join(choices)}")
            if value not in out:
                out.append(value)
        return out

    return parse




def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rnn-parity bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=_csv("positive integers"), default=[1], metavar="N[,N...]",
                        help="threads for BLAS, OpenMP and torch, the same on both sides; a list runs "
                             "each (default 1: the per-core comparison)")
    parser.add_argument("--family", type=_csv("families", FAMILIES), default=None,
                        metavar="rnn,lstm,gru", help="which modules to compare (default all three)")
    parser.add_argument("--only", type=_csv("sizes", tuple(SIZES), ALIASES), default=None,
                        metavar="SIZE[,SIZE...]", help=f"only these sizes ({', '.join(SIZES)}; default all)")
    parser.add_argument("--dtype", type=_csv("dtypes", DTYPES), default=None, metavar="float32[,float64]",
                        help="default float32")
    parser.add_argument("--repeats", type=positive_int, default=None, metavar="K",
                        help=f"timed runs per measurement (default: as many as fit in ~{TIME_BUDGET_S} s, 5 to 41)")
    parser.add_argument("--out", default="bench/results.json", metavar="PATH",
                        help="JSON results (default bench/results.json; parent folders are created)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2 repeats, and unless --family / --dtype are given, the RNN "
                             "only, in float32 and float64")
    # Hidden: the worker processes (one per side and thread count).
    parser.add_argument("--worker", choices=("scratch", "torch"), help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quick:  # the old bench's smoke run: the RNN in both dtypes, unless told otherwise
        args.repeats = args.repeats or 2
        args.family = args.family or ["rnn"]
        args.dtype = args.dtype or list(DTYPES)
    args.family = args.family or list(FAMILIES)
    args.dtype = args.dtype or ["float32"]
    args.only = args.only or list(SIZES)
    if args.worker:
        if len(args.threads) != 1 or not args.worker_out:
            parser.error("a worker takes one thread count and --worker-out")
        return _worker(args)
    return _bench(args)


# ---------------------------------------------------------------------------------------
# The parent: one worker process per side and thread count, then the table.
# ---------------------------------------------------------------------------------------
def _spawn(side: str, threads: int, args) -> dict:
    env = dict(os.environ)
    for var in THREAD_VARS:
        env[var] = str(threads)
    root = str(Path(__file__).resolve().parents[2])  # the checkout this module is imported from
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"{side}.json"
        cmd = [sys.executable, "-m", "parity_tests.tools.bench", "--worker", side, "--worker-out", str(out),
               "--threads", str(threads), "--family", ",".join(args.family), "--only", ",".join(args.only),
               "--dtype", ",".join(args.dtype)]
        if args.repeats:
            cmd += ["--repeats", str(args.repeats)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"the {side} worker ({threads} thread(s)) failed with exit status "
                               f"{proc.returncode}:\n{proc.stderr.strip()}")
        return json.loads(out.read_text())


def _bench(args) -> int:
    t_start = time.perf_counter()
    results, workers = [], []
    for n in args.threads:
        sides = {}
        for side in ("scratch", "torch"):
            t0 = time.perf_counter()
            try:
                sides[side] = _spawn(side, n, args)
            except RuntimeError as exc:
                print(f"rnn-parity bench: {exc}", file=sys.stderr)
                return 1
            w = sides[side]
            workers.append(dict(side=side, requested_threads=n, threadpools=w["threadpools"],
                                torch_threads=w.get("torch_threads"), versions=w["versions"]))
            print(f"{side} worker, {n} thread(s): {len(w['results'])} measurements in "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)
        torch_by_key = {_key(r): r for r in sides["torch"]["results"]}
        for s in sides["scratch"]["results"]:
            results.append(_merge(s, torch_by_key[_key(s)], n, sides))
    machine = _machine(workers)
    doc = dict(machine=machine,
               settings=dict(threads=args.threads, families=args.family, sizes=args.only, dtypes=args.dtype,
                             repeats=args.repeats or f"adaptive (~{TIME_BUDGET_S} s, 5 to 41)"),
               targets=dict(ratio=TARGETS, floor=FLOOR_TARGETS),
               memory_formula=MEMORY_FORMULA, workers=workers, results=results)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1))
    print()
    print(f"machine: {machine['cpu']}, {machine['cores']} cores; Python {machine['python']}, NumPy "
          f"{machine['numpy']} ({_blas_name(machine['blas'])}), torch {machine['torch']}")
    print()
    print(markdown_table(results))
    print()
    print("ratio = scratch / torch (lower is better), medians; floor = scratch's matrix products alone, "
          "floor/scratch = the fraction of the floor reached (target at medium and deep: within 1.15x, i.e. >= 0.87); "
          "peak = tracemalloc peak of scratch's forward + backward; act = the activations a BPTT must keep; "
          "cache/min = what scratch's cache holds over the minimum. Timings on a shared machine are noisy.")
    print(f"wrote {out} ({time.perf_counter() - t_start:.0f} s)")
    return 0


def _key(r: dict) -> tuple:
    return r["family"], r["size"], r["dtype"]


def _merge(s: dict, t: dict, threads: int, sides: dict) -> dict:
    ratio = s["ms"] / t["ms"]
    target = TARGETS[s["family"]][s["size"]]
    floor_target = FLOOR_TARGETS.get(s["size"])
    diff = max(abs(s["checksums"][k] - t["checksums"][k]) / max(abs(t["checksums"][k]), 1e-30)
               for k in t["checksums"])
    return dict(
        family=s["family"], size=s["size"], config=s["size"], dtype=s["dtype"],
        T=s["T"], B=s["B"], I=s["I"], H=s["H"], num_layers=s["num_layers"], bidirectional=s["bidirectional"],
        threads=threads, scratch_threads=_pool_threads(sides["scratch"]), torch_threads=sides["torch"]["torch_threads"],
        scratch_ms=s["ms"], torch_ms=t["ms"], ratio=ratio, target=target, meets_target=ratio <= target,
        scratch_min_ms=s["min_ms"], torch_min_ms=t["min_ms"],
        scratch_repeats=s["repeats"], torch_repeats=t["repeats"], repeats=min(s["repeats"], t["repeats"]),
        floor_ms=s["floor_ms"], floor_fraction=s["floor_ms"] / s["ms"], floor_target=floor_target,
        meets_floor_target=None if floor_target is None else s["ms"] <= floor_target * s["floor_ms"],
        peak_bytes=s["peak_bytes"], peak_bytes_fwd_bwd=s["peak_bytes"], activation_bytes=s["activation_bytes"],
        peak_over_activations=s["peak_bytes"] / s["activation_bytes"],
        cache_bytes=s["cache_bytes"], min_cache_bytes=s["min_cache_bytes"],
        cache_ratio=s["cache_bytes"] / s["min_cache_bytes"], input_bytes=s["input_bytes"],
        same_result=diff <= RESULT_RTOL, checksum_max_rel_diff=diff,
    )


def _pool_threads(worker: dict):
    counts = {p["num_threads"] for p in worker["threadpools"]}
    return counts.pop() if len(counts) == 1 else sorted(counts)


def _machine(workers: list) -> dict:
    scratch = next(w for w in workers if w["side"] == "scratch")
    torch_w = next(w for w in workers if w["side"] == "torch")
    return dict(cpu=_cpu_name(), cores=os.cpu_count(), platform=platform.platform(),
                python=platform.python_version(), numpy=scratch["versions"]["numpy"],
                torch=torch_w["versions"]["torch"],
                blas=[{k: p.get(k) for k in ("user_api", "internal_api", "prefix", "version", "architecture",
                                             "threading_layer")} for p in scratch["threadpools"]],
                torch_threadpools=[{k: p.get(k) for k in ("user_api", "internal_api", "prefix", "version")}
                                   for p in torch_w["threadpools"]])


def _blas_name(blas: list) -> str:
    return ", ".join(f"{p.get('internal_api')} {p.get('version') or ''}".strip() for p in blas if p.get("user_api") == "blas") or "no BLAS found"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _fmt_ms(ms: float) -> str:
    return f"{ms:.3f}" if ms < 10 else f"{ms:.1f}"


def markdown_table(results: list) -> str:
    head = ["family", "size", "T", "B", "I", "H", "L x D", "dtype", "threads", "scratch ms", "torch ms", "ratio",
            "target", "floor ms", "floor/scratch", "floor target", "peak MB", "act MB", "peak/act", "cache/min"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        ft = r["floor_target"]
        cells = [
            r["family"], r["size"], r["T"], r["B"], r["I"], r["H"],
            f"{r['num_layers']} x {2 if r['bidirectional'] else 1}", r["dtype"], r["threads"],
            _fmt_ms(r["scratch_ms"]), _fmt_ms(r["torch_ms"]),
            f"**{r['ratio']:.2f}**" if r["meets_target"] else f"{r['ratio']:.2f}",
            f"{r['target']:g} {'met' if r['meets_target'] else 'missed'}",
            _fmt_ms(r["floor_ms"]), f"{r['floor_fraction']:.2f}",
            "-" if ft is None else f"{ft:g}x {'met' if r['meets_floor_target'] else 'missed'}",
            f"{r['peak_bytes'] / 2**20:.3f}", f"{r['activation_bytes'] / 2**20:.3f}",
            f"{r['peak_over_activations']:.2f}", f"{r['cache_ratio']:.3f}",
        ]
        if not r["same_result"]:
            cells[11] += " (results differ!)"
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Memory: what a BPTT must keep, and what scratch's cache holds.
# ---------------------------------------------------------------------------------------
MEMORY_FORMULA = {
    "rnn": "per layer and direction: (T+1) B H (h_0 .. h_T)",
    "lstm": "per layer and direction: 2 (T+1) B H (h and c) + 4 T B H (gates i, f, g, o)",
    "gru": "per layer and direction: (T+1) B H (h) + 3 T B H (gates r, z, n) + T B H (q = W_hn h + b_hn)",
    "not counted": "x (the caller's; allocated before tracing); inputs of layers above the first are the "
                   "hidden states below, counted once",
    "min_cache_bytes": "the same without the initial states (the caller's): for the RNN, L D T B H",
}


def activation_values(family: str, T: int, B: int, H: int, num_layers: int, bidirectional: bool,
                      *, initial: bool = True) -> int:
    """Values a BPTT of ``family`` must keep between forward and backward (MEMORY_FORMULA);
    ``initial=False`` leaves out the initial states h0 (and c0)."""
    LD = num_layers * (2 if bidirectional else 1)
    rows = T + 1 if initial else T
    per = {"rnn": rows, "lstm": 2 * rows + 4 * T, "gru": rows + 3 * T + T}[family]
    return LD * per * B * H


def _arrays_in(value):
    if isinstance(value, np.ndarray):
        yield value
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _arrays_in(v)


def _cache_bytes(module, x) -> int:
    """Bytes of every array scratch's BPTT cache refers to (layer inputs, hidden states and
    everything each tape keeps), each underlying buffer once, minus the caller's input x.
    Call it after forward. For an RNN this is one (T+2, B, D*H) buffer per layer."""
    cache = module._cache[0]
    arrays = list(_arrays_in(list(cache.layer_inputs))) + list(_arrays_in(cache.hidden))
    for layer in cache.tapes:
        for units in layer:  # a direction's units: ((rows, tape), ...)
            for _rows, tape in units:
                for value in vars(tape).values():
                    arrays.extend(_arrays_in(value))
    seen, total = set(), 0
    for a in arrays:
        base = a
        while isinstance(base.base, np.ndarray):
            base = base.base
        if id(base) in seen or np.shares_memory(base, x):
            continue
        seen.add(id(base))
        total += base.nbytes
    return total


# ---------------------------------------------------------------------------------------
# The workers.
# ---------------------------------------------------------------------------------------
def _problem(family: str, size: str, dtype: str, seed: int = 0) -> dict:
    """The same weights and data on both sides: scratch's own initialisation and one NumPy
    stream (the torch worker copies them in)."""
    from rnn_parity import scratch

    T, B, I, H, L, bidir = SIZES[size]
    D = 2 if bidir else 1
    module = getattr(scratch, SCRATCH_CLASS[family])(I, H, num_layers=L, bidirectional=bidir, dtype=np.dtype(dtype),
                                                     seed=seed)
    rng = np.random.default_rng(seed)
    draw = lambda *shape, scale=1.0: (rng.standard_normal(shape) * scale).astype(dtype)  # noqa: E731
    arrays = dict(x=draw(T, B, I), h0=draw(L * D, B, H, scale=0.1), c0=draw(L * D, B, H, scale=0.1),
                  d_out=draw(T, B, D * H), d_hn=draw(L * D, B, H), d_cn=draw(L * D, B, H))
    return dict(family=family, size=size, dtype=dtype, T=T, B=B, I=I, H=H, num_layers=L, bidirectional=bidir,
                module=module, params={k: v.copy() for k, v in module.params.items()}, **arrays)


def _checksums(named: dict) -> dict:
    return {k: float(np.abs(np.asarray(v, dtype=np.float64)).sum()) for k, v in named.items()}


def _scratch_side(p: dict):
    from rnn_parity import scratch

    lstm = p["family"] == "lstm"
    x, d_out = p["x"], p["d_out"]
    init = (p["h0"], p["c0"]) if lstm else p["h0"]
    d_final = (p["d_hn"], p["d_cn"]) if lstm else (p["d_hn"],)

    def run(module=p["module"]):
        out, finals = module.forward(x, init)
        dx, d_init = module.backward(d_out, *d_final)
        return out, finals, dx, d_init

    def fresh():
        T, B, I, H, L, bidir = SIZES[p["size"]]
        m = getattr(scratch, SCRATCH_CLASS[p["family"]])(I, H, num_layers=L, bidirectional=bidir,
                                                         dtype=np.dtype(p["dtype"]))
        for k, v in p["params"].items():
            m.params[k] = v.copy()
        return m

    out, finals, dx, d_init = run()
    finals = finals if lstm else (finals,)
    d_init = d_init if lstm else (d_init,)
    named = dict(output=out, dx=dx, **dict(zip(("h_n", "c_n"), finals)), **dict(zip(("dh0", "dc0"), d_init)),
                 **{f"grad {k}": v for k, v in p["module"].grads.items()})
    return run, fresh, _checksums(named)


def _torch_side(p: dict):
    import torch

    lstm = p["family"] == "lstm"
    T, B, I, H, L, bidir = SIZES[p["size"]]
    module = getattr(torch.nn, TORCH_MODULE[p["family"]])(I, H, L, bidirectional=bidir,
                                                          dtype=getattr(torch, p["dtype"]))
    with torch.no_grad():
        for name, param in module.named_parameters():
            param.copy_(torch.from_numpy(p["params"][name]))
    xt = torch.from_numpy(p["x"]).requires_grad_(True)
    h0t = torch.from_numpy(p["h0"]).requires_grad_(True)
    c0t = torch.from_numpy(p["c0"]).requires_grad_(True)
    dot, dht, dct = (torch.from_numpy(p[k]) for k in ("d_out", "d_hn", "d_cn"))
    leaves = (xt, h0t, c0t) if lstm else (xt, h0t)

    def run():
        module.zero_grad(set_to_none=True)
        for leaf in leaves:
            leaf.grad = None
        if lstm:
            out, (hn, cn) = module(xt, (h0t, c0t))
            torch.autograd.backward((out, hn, cn), (dot, dht, dct))
            return out, (hn, cn)
        out, hn = module(xt, h0t)
        torch.autograd.backward((out, hn), (dot, dht))
        return out, (hn,)

    out, finals = run()
    named = dict(output=out.detach().numpy(), dx=xt.grad.numpy(),
                 **dict(zip(("h_n", "c_n"), (f.detach().numpy() for f in finals))),
                 **dict(zip(("dh0", "dc0"), (leaf.grad.numpy() for leaf in leaves[1:]))),
                 **{f"grad {k}": v.grad.numpy() for k, v in module.named_parameters()})
    return run, _checksums(named)


def _time(fn, repeats) -> list:
    """Two warm-up runs, then ``repeats`` timed runs (or as many as fit in the budget)."""
    fn()
    t0 = time.perf_counter()
    fn()
    once = time.perf_counter() - t0
    if repeats is None:
        repeats = max(5, min(41, int(TIME_BUDGET_S / max(once, 1e-6))))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def gemm_floor(family: str, T: int, B: int, I: int, H: int, num_layers: int, bidirectional: bool, dtype,
               seed: int = 0, bias: bool = False):
    """A function running the matrix products of scratch's forward + backward alone, nothing
    else (no elementwise work, no copies): per layer and direction the input projection
    ``xs @ W_ih.T`` as one (T*B, I_k) x (I_k, G*H) GEMM (with ``bias``, (T*B, I_k+1) x
    (I_k+1, G*H): scratch adds the bias inside the product, see scratch.linalg.affine; the
    gated cells do it a block of K steps at a time, K = scratch.driver.block_steps(B*G*H):
    the GRU as one (K*B, I_k+1) x (I_k+1, H) product per gate, each into its own gate block
    (scratch.gru.GRUTape), the LSTM as one
    stacked (K, 1, B, I_k+1) x (4, I_k+1, H) product per block into its gate-major (K, 4, B, H)
    gates (scratch.lstm.LSTMTape._project); so does the floor); T recurrent products
    ``h_s @ W_hh^T``: the RNN's (B, H) x (H, H) with a contiguous W_hh^T into a preallocated
    buffer, the gated cells' one stacked product (B, H) x (G, H, H), gate by gate, into a
    gate-major (G, B, H) buffer, as their tapes do; T carried products ``da_s @ W_hh`` (B, G*H) x (G*H, H); the
    stacked ``da^T xs``, ``da^T h_prev`` and ``da @ W_ih``. G = 1, 4, 3 (RNN, LSTM, GRU).

    With more than one thread, scratch runs a layer's directions and blocks of batch rows as
    units side by side, each with one BLAS thread (``scratch.parallel.plan``/``run``); the
    floor does the same with the same units: B above is then the unit's rows.
    Returns (run, shapes): ``shapes`` lists (count, m, k, n) per product."""
    from rnn_parity.scratch import parallel
    from rnn_parity.scratch.driver import block_steps

    G, D = GATES[family], 2 if bidirectional else 1
    blocks, par = parallel.plan(B, D, G * H)
    rng = np.random.default_rng(seed)
    layers, shapes = [], []
    for layer in range(num_layers):
        n_in = I if layer == 0 else D * H
        GH = G * H
        units, layer_shapes = [], []
        for _d in range(D):
            for rows in blocks:
                Bu = len(range(B)[rows])
                xs = rng.standard_normal((T, Bu, n_in)).astype(dtype)
                w_ih = rng.standard_normal((GH, n_in)).astype(dtype)
                w_hh = rng.standard_normal((GH, H)).astype(dtype)
                hs = rng.standard_normal((T + 1, Bu, H)).astype(dtype)
                da = rng.standard_normal((T, Bu, GH)).astype(dtype)
                # The input projection's operands as scratch passes them (scratch.linalg.affine):
                # with a bias, [xs, 1] (T*B, I_k+1) and a C-ordered [W_ih^T; b] (I_k+1, G*H);
                # without, xs and W_ih^T in a transposed view's (column-major) layout, which is
                # what the RNN passes and what the gated cells' W_ih^T * scale comes out as
                # (the GRU then copies each gate's columns, below).
                if bias:
                    xs_in = np.concatenate((xs.reshape(T * Bu, n_in), np.ones((T * Bu, 1), dtype=dtype)), axis=1)
                    w_in = rng.standard_normal((n_in + 1, GH)).astype(dtype)
                else:
                    xs_in = xs.reshape(T * Bu, n_in)
                    w_in = w_ih.T
                K = T if G == 1 else min(T, block_steps(Bu * GH))  # scratch's projection block (steps)
                n1 = xs_in.shape[1]
                # The projection's weight and output: the RNN's one 2-D GEMM, the GRU's one 2-D
                # GEMM per gate and block, the LSTM's one stacked product per block,
                # [x, 1] (K, 1, B, I+1) x (4, I+1, H) -> (K, 4, B, H) (one GEMM per step and gate).
                parts = G
                if family == "lstm":
                    w_in = [np.ascontiguousarray(w_in.reshape(n1, G, H).transpose(1, 0, 2))]
                    proj = np.empty((T, G, Bu, H), dtype=dtype)
                else:
                    w_in = [w_in] if parts == 1 else [np.ascontiguousarray(w_in[:, k * H : (k + 1) * H]) for k in range(parts)]
                    proj = np.empty((parts, T * Bu, GH // parts), dtype=dtype)
                # The recurrent product's weight and output: the gated cells' stacked gate by gate,
                # (B, H) x (G, H, H) into a gate-major (G, B, H) buffer.
                if parts == 1:
                    w_rec, rec = np.ascontiguousarray(w_hh.T), np.empty((Bu, GH), dtype=dtype)
                else:
                    w_rec = np.ascontiguousarray(w_hh.reshape(parts, H, H).transpose(0, 2, 1))
                    rec = np.empty((parts, Bu, H), dtype=dtype)
                units.append((xs, xs_in, w_ih, w_in, w_hh, w_rec, hs, da, rec, K, proj))
                if family == "lstm":
                    layer_shapes.append((T * G, Bu, n1, H))
                else:
                    full, rest = divmod(T, K)
                    layer_shapes.append((full * parts, K * Bu, n1, GH // parts))
                    if rest:
                        layer_shapes.append((parts, rest * Bu, n1, GH // parts))
                layer_shapes += [(T * parts, Bu, H, GH // parts), (T, Bu, GH, H), (1, GH, T * Bu, n_in), (1, GH, T * Bu, H),
                                 (1, T * Bu, GH, n_in)]
        layers.append(units)
        shapes += _merge_shapes(layer_shapes)

    def unit(xs, xs_in, w_ih, w_in, w_hh, w_rec, hs, da, rec, K, proj):
        T_, B_, n_in = xs.shape
        GH = w_hh.shape[0]
        da2, xs2, hp2 = da.reshape(T_ * B_, GH), xs.reshape(T_ * B_, n_in), hs[:-1].reshape(T_ * B_, -1)
        rows = K * B_
        if proj.ndim == 4:  # the LSTM's: one stacked product per block of K steps (scratch.lstm.LSTMTape._project)
            xs3 = xs_in.reshape(T_, B_, -1)
            for lo in range(0, T_, K):
                np.matmul(xs3[lo : lo + K][:, None], w_in[0], out=proj[lo : lo + K])
        elif len(w_in) == 1:  # the RNN's: all T steps in one 2-D GEMM, as scratch.linalg.matmul does it
            xs_in @ w_in[0]
        else:  # the GRU's projection, one block of K steps and gate block at a time
            for lo in range(0, T_ * B_, rows):
                for w_k, proj_k in zip(w_in, proj):
                    np.matmul(xs_in[lo : lo + rows], w_k, out=proj_k[lo : lo + rows])
        for s in range(T_):
            np.matmul(hs[s], w_rec, out=rec)
        for s in range(T_ - 1, -1, -1):
            da[s] @ w_hh
        da2.T @ xs2
        da2.T @ hp2
        da2 @ w_ih

    def run():
        for units in layers:  # layer by layer; a layer's units side by side when scratch does that
            parallel.run([partial(unit, *u) for u in units], par)

    return run, shapes


def _merge_shapes(shapes):
    """(count, m, k, n) rows with equal (m, k, n) summed (a layer's units), first-seen order."""
    merged: dict = {}
    for count, *mkn in shapes:
        merged[tuple(mkn)] = merged.get(tuple(mkn), 0) + count
    return [(count, *mkn) for mkn, count in merged.items()]


def _worker(args) -> int:
    threads = args.threads[0]
    from ..core.threads import pin_threads

    if args.worker == "torch":
        import torch

        try:
            torch.set_num_interop_threads(threads)
        except RuntimeError:
            pass
    pin_threads(threads, override=True)  # env, threadpoolctl (BLAS and OpenMP pools), torch
    from threadpoolctl import threadpool_info

    versions = dict(python=platform.python_version(), numpy=np.__version__)
    report = dict(side=args.worker, threads=threads, results=[])
    if args.worker == "torch":
        import torch

        versions["torch"] = torch.__version__
        report["torch_threads"] = torch.get_num_threads()
        report["torch_interop_threads"] = torch.get_num_interop_threads()
    for family in args.family:
        for size in args.only:
            for dtype in args.dtype:
                p = _problem(family, size, dtype)
                rec = {k: p[k] for k in ("family", "size", "dtype", "T", "B", "I", "H", "num_layers", "bidirectional")}
                if args.worker == "scratch":
                    run, fresh, sums = _scratch_side(p)
                    times = _time(run, args.repeats)
                    floor_run, shapes = gemm_floor(family, *SIZES[size], dtype, bias=True)  # as _problem's modules
                    floor = _time(floor_run, args.repeats)
                    rec.update(floor_ms=statistics.median(floor) * 1e3, gemm_shapes=shapes)
                    rec.update(_memory(p, fresh, run))
                else:
                    run, sums = _torch_side(p)
                    times = _time(run, args.repeats)
                rec.update(ms=statistics.median(times) * 1e3, min_ms=min(times) * 1e3, repeats=len(times),
                           checksums=sums)
                report["results"].append(rec)
    report["threadpools"] = threadpool_info()
    report["versions"] = versions
    Path(args.worker_out).write_text(json.dumps(report))
    return 0


def _memory(p: dict, fresh, run) -> dict:
    """tracemalloc peak of one forward + backward of a fresh module (its weights and the
    data allocated before tracing starts), its cache after forward, and the minimum."""
    itemsize = np.dtype(p["dtype"]).itemsize
    dims = (p["family"], p["T"], p["B"], p["H"], p["num_layers"], p["bidirectional"])
    module = fresh()
    module.forward(p["x"], (p["h0"], p["c0"]) if p["family"] == "lstm" else p["h0"])
    cache = _cache_bytes(module, p["x"])
    module = fresh()
    tracemalloc.start()
    try:
        run(module)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return dict(peak_bytes=peak, cache_bytes=cache,
                activation_bytes=activation_values(*dims) * itemsize,
                min_cache_bytes=activation_values(*dims, initial=False) * itemsize,
                input_bytes=p["x"].nbytes)


if __name__ == "__main__":
    sys.exit(main())

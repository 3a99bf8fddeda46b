"""A picture of one parity check (matplotlib, headless): where in time and in which units
the implementation departs from torch, and the hidden-state trajectories of both sides.

    plot_parity(cls, case, path)   -> writes a PNG; returns the comparisons

Panels: (1) |output_impl - output_torch| over time x unit (batch max), (2) the same for dx
over time x input feature, (3) the per-time-step error of output and dx, one line each,
against the tolerance, (4) the normwise error of every tensor against the budget, (5) the
last layer's hidden-state trajectories (output, batch 0) of both sides overlaid.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.contract import impl_name
from ..core.runs import run_both


def plot_parity(cls, case, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    cfg = case.config
    run = run_both(cls, case)
    comparisons, mine, ref = run.comparisons, run.mine, run.ref
    tm = (lambda z: np.swapaxes(z, 0, 1)) if cfg.batch_first else (lambda z: z)
    out_m, out_r = tm(mine["output"]).astype(np.float64), tm(ref["output"])
    dx_m, dx_r = tm(mine["dx"]).astype(np.float64), tm(ref["dx"])
    err_out = np.abs(out_m - out_r).max(axis=1)  # (T, D*H)
    err_dx = np.abs(dx_m - dx_r).max(axis=1)  # (T, I)
    floor = 1e-18

    fig = plt.figure(figsize=(13, 8))
    grid = fig.add_gridspec(2, 3)
    for pos, err, label, what in ((grid[0, 0], err_out, "output", "unit (direction-major)"),
                                  (grid[0, 1], err_dx, "dx", "input feature")):
        ax = fig.add_subplot(pos)
        im = ax.imshow(np.maximum(err, floor).T, aspect="auto", origin="lower", cmap="magma",
                       norm=LogNorm(vmin=floor, vmax=max(float(err.max()), 1e-15)))
        ax.set(title=f"|{label} - torch| (max over batch)", xlabel="time step", ylabel=what)
        fig.colorbar(im, ax=ax)

    ax = fig.add_subplot(grid[0, 2])
    by_name = {c.tensor: c for c in comparisons}
    for label, err, c in (("output", err_out, by_name["output"]), ("dx", err_dx, by_name["dx"])):
        line = ax.plot(np.maximum(err.max(axis=1), floor), marker="o", label=f"{label} error")[0]
        ax.axhline(max(c.allowed_abs, floor), color=line.get_color(), ls=":", label=f"{label} tolerance")
    ax.set(title="per-time-step error", xlabel="time step", yscale="log")
    ax.legend(fontsize=8)

    ax = fig.add_subplot(grid[1, :2])
    names = [c.tensor for c in comparisons]
    vals = [max(c.normwise, floor) for c in comparisons]
    colors = ["tab:green" if c.passed else "tab:red" for c in comparisons]
    ax.bar(range(len(names)), vals, color=colors)
    ax.axhline(comparisons[0].rtol, color="black", ls=":", label="budget (1000 eps)")
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
    ax.set(title="normwise error per tensor, in causal order (red: fails)", yscale="log")
    ax.legend(fontsize=8)

    ax = fig.add_subplot(grid[1, 2])
    units = min(out_r.shape[2], 4)
    for u in range(units):
        line = ax.plot(out_r[:, 0, u], lw=3, alpha=0.4, label=f"torch unit {u}")[0]
        ax.plot(out_m[:, 0, u], ls="--", color=line.get_color(), label=f"impl unit {u}")
    ax.set(title="last layer's hidden states, batch 0", xlabel="time step")
    ax.legend(fontsize=6, ncol=2)

    failed = [c.tensor for c in comparisons if not c.passed]
    fig.suptitle(f"{impl_name(cls)} vs torch.nn.RNN: {cfg.short()}\n"
                 f"{'differs: ' + ', '.join(failed[:4]) + (' ...' if len(failed) > 4 else '') if failed else 'every tensor within tolerance'}",
                 fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return comparisons

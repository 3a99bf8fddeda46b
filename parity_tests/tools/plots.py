"""A picture of one parity check (matplotlib, headless), every error measured against its
own budget: where in time and in which units the implementation departs from torch.

    plot_parity(cls, case, path)   -> writes a PNG; returns the comparisons

Every heatmap shows ``|actual - expected| / allowed`` (``error_over_allowed``), where
``allowed`` is the tensor's allowed absolute error from the tolerance rule
(``core/tolerance.py``, carried by each ``core/compare.Comparison``): 1.0 is exactly at the
budget. One colour scale for all panels, logarithmic from 1e-3 to 1e3 (values outside are
clipped to its ends; an exact match shows as the lightest blue, NaN or inf as the darkest
red): blues below 1 (pass), yellow to red above 1 (fail), the colour changing abruptly at
1.0. Colourbar: "error / allowed".

Panels: (1) output over time x unit (max over batch), (2) dx over time x input feature,
(3) one parameter gradient (the first failing one, else grad weight_hh_l0) over its rows x
columns, (4) the worst error / allowed of output and dx at each time step, (5) every
tensor's worst error / allowed, in causal order, (6) the last layer's hidden-state
trajectories (output, batch 0) of both sides overlaid. Each heatmap's title names the
tensor and its verdict.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.contract import impl_name
from ..core.runs import run_both

VMIN, VMAX = 1e-3, 1e3  # the colour scale of error / allowed; 1.0 (the budget) is its middle
LABEL = "error / allowed"


def error_over_allowed(actual, expected, allowed) -> np.ndarray:
    """``|actual - expected| / allowed``, elementwise, in float64: 1.0 is an error exactly
    at the budget, below 1 passes. NaN or inf in ``actual`` (or a difference where nothing
    is allowed, ``allowed == 0``) is ``inf``; an exact match is 0 whatever ``allowed`` is."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    diff = np.abs(a - e)
    diff = np.where(np.isfinite(diff), diff, np.inf)
    allowed = float(allowed)
    if allowed > 0:
        return diff / allowed
    return np.where(diff > 0, np.inf, 0.0)


def clipped(ratio) -> np.ndarray:
    """error / allowed clipped into the colour scale [VMIN, VMAX] (zero and NaN included)."""
    r = np.asarray(ratio, dtype=np.float64)
    return np.clip(np.nan_to_num(r, nan=np.inf, posinf=np.inf), VMIN, VMAX)


def pass_fail_colormap():
    """Two-part colormap for a log scale centred on 1.0: light to dark blue for
    error / allowed in [1e-3, 1) (pass), yellow to dark red in [1, 1e3] (fail)."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    below = plt.get_cmap("Blues")(np.linspace(0.12, 0.85, 128))
    above = plt.get_cmap("YlOrRd")(np.linspace(0.25, 1.0, 128))
    cmap = ListedColormap(np.vstack([below, above]), name="pass_fail")
    return cmap.with_extremes(under=below[0], over=above[-1], bad=above[-1])


def _norm():
    from matplotlib.colors import LogNorm

    return LogNorm(vmin=VMIN, vmax=VMAX)


def _integer_axes(ax, x=True, y=True) -> None:
    from matplotlib.ticker import MaxNLocator

    if x:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if y:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def _verdict(c) -> str:
    worst = c.max_abs / c.allowed_abs if c.allowed_abs > 0 else (0.0 if c.max_abs == 0 else np.inf)
    if c.passed:
        return f"pass (worst {worst:.2g} of allowed)"
    return f"FAIL (worst {worst:.3g} x allowed, {c.mismatched}/{c.total} elements over)"


def _heatmap(fig, ax, ratio2d, title, xlabel, ylabel, cmap):
    """ratio2d: (rows along y, columns along x) of error / allowed."""
    im = ax.imshow(clipped(ratio2d), aspect="auto", origin="lower", cmap=cmap, norm=_norm(),
                   interpolation="nearest")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.title.set_fontsize(9)
    _integer_axes(ax)
    return im


def _colorbar(fig, im, ax):
    bar = fig.colorbar(im, ax=ax, extend="both")
    bar.set_label(LABEL)
    bar.ax.axhline(1.0, color="black", lw=1.5)
    return bar


def _as_2d(a: np.ndarray) -> np.ndarray:
    return a[None, :] if a.ndim == 1 else a.reshape(a.shape[0], -1)


def plot_parity(cls, case, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg = case.config
    run = run_both(cls, case)
    comparisons, mine, ref = run.comparisons, run.mine, run.ref
    by_name = {c.tensor: c for c in comparisons}
    batch_first = getattr(cfg, "batch_first", False)
    tm = (lambda z: np.swapaxes(z, 0, 1)) if batch_first else (lambda z: z)
    out_m, out_r = tm(np.asarray(mine["output"], dtype=np.float64)), tm(np.asarray(ref["output"], dtype=np.float64))
    dx_m, dx_r = tm(np.asarray(mine["dx"], dtype=np.float64)), tm(np.asarray(ref["dx"], dtype=np.float64))
    # (T, B, n) -> max over the batch -> (T, n); shown as unit (y) x time (x)
    r_out = error_over_allowed(out_m, out_r, by_name["output"].allowed_abs).max(axis=1)
    r_dx = error_over_allowed(dx_m, dx_r, by_name["dx"].allowed_abs).max(axis=1)
    grads = [c for c in comparisons if c.tensor.startswith("grad ")]
    pick = next((c for c in grads if not c.passed), None) or by_name.get("grad weight_hh_l0") or (grads[0] if grads else None)
    cmap = pass_fail_colormap()

    fig = plt.figure(figsize=(15, 8.5))
    grid = fig.add_gridspec(2, 3)
    for pos, ratio, c, what in ((grid[0, 0], r_out, by_name["output"], "unit (direction-major)"),
                                (grid[0, 1], r_dx, by_name["dx"], "input feature")):
        ax = fig.add_subplot(pos)
        im = _heatmap(fig, ax, ratio.T, f"{c.tensor}: {_verdict(c)}\n(max over batch)", "time step", what, cmap)
        _colorbar(fig, im, ax)
    if pick is not None:
        ax = fig.add_subplot(grid[0, 2])
        g = error_over_allowed(mine[pick.tensor], ref[pick.tensor], pick.allowed_abs)
        g2 = _as_2d(g)
        im = _heatmap(fig, ax, g2, f"{pick.tensor}: {_verdict(pick)}", "column" if g.ndim > 1 else "index",
                      "row" if g.ndim > 1 else "", cmap)
        if g.ndim == 1:
            ax.set_yticks([])
        _colorbar(fig, im, ax)

    ax = fig.add_subplot(grid[1, 0])
    steps = np.arange(r_out.shape[0])
    ax.axhspan(1.0, VMAX * 2, color="tab:red", alpha=0.08, lw=0)
    ax.plot(steps, clipped(r_out.max(axis=1)), marker="o", label="output")
    ax.plot(steps, clipped(r_dx.max(axis=1)), marker="s", label="dx")
    ax.axhline(1.0, color="black", ls=":", label="budget (1.0)")
    ax.set(title="worst error / allowed at each time step (above 1: fails)", xlabel="time step",
           ylabel=LABEL, yscale="log", ylim=(VMIN / 1.5, VMAX * 1.5))
    ax.title.set_fontsize(9)
    _integer_axes(ax, y=False)
    ax.legend(fontsize=8)

    ax = fig.add_subplot(grid[1, 1])
    names = [c.tensor for c in comparisons]
    worst = [clipped(error_over_allowed(c.max_abs, 0.0, c.allowed_abs)) for c in comparisons]
    ax.bar(range(len(names)), worst, color=["tab:blue" if c.passed else "tab:red" for c in comparisons])
    ax.axhline(1.0, color="black", ls=":", label="budget (1.0)")
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
    ax.set(title="every tensor's worst error / allowed, in causal order (red: fails)", ylabel=LABEL,
           yscale="log", ylim=(VMIN / 1.5, VMAX * 1.5))
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8)

    ax = fig.add_subplot(grid[1, 2])
    units = min(out_r.shape[2], 4)
    for u in range(units):
        line = ax.plot(steps, out_r[:, 0, u], lw=3, alpha=0.4, label=f"torch unit {u}")[0]
        ax.plot(steps, out_m[:, 0, u], ls="--", color=line.get_color(), label=f"impl unit {u}")
    ax.set(title="last layer's hidden states, batch 0", xlabel="time step")
    ax.title.set_fontsize(9)
    _integer_axes(ax, y=False)
    ax.legend(fontsize=6, ncol=2)

    failed = [c.tensor for c in comparisons if not c.passed]
    torch_name = getattr(getattr(case, "family", None), "torch_name", "torch")
    verdict = ("FAIL: " + ", ".join(failed[:4]) + (" ..." if len(failed) > 4 else "") + " differ") if failed \
        else "pass: every tensor within tolerance"
    fig.suptitle(f"{impl_name(cls)} vs {torch_name}: {cfg.short()}\n{verdict}", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return comparisons

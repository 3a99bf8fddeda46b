"""Pictures of parity checks (matplotlib, headless), every error measured against its own
budget: where in time, in which units and in which gate an implementation departs from
torch. One picture per family and configuration; every family of the catalog (RNN, RNNCell,
LSTM, GRU, LSTMCell, GRUCell) is drawn by the same code, read off the family's record.

    plot_parity(cls, case, path)        -> writes a PNG; returns the comparisons
    plot_run(run, path)                 -> writes a PNG of a core.runs.Run; returns its Picture
    parity_picture(run)                 -> the Picture: the data behind every panel (no drawing)
    plot_families(picks, path, seed=0)  -> one PNG per family (``family_png``); the report's --png

What a heatmap shows. Every heatmap shows ``|actual - expected| / allowed``
(``error_over_allowed``), where ``allowed`` is the tensor's allowed absolute error from the
tolerance rule (``core/tolerance.py``, carried by each ``core/compare.Comparison``): 1.0 is
exactly at the budget. One colour scale for all panels, logarithmic from 1e-3 to 1e3 (values
outside are clipped to its ends; an exact match shows as the lightest blue, NaN or inf as the
darkest red): blues below 1 (pass), yellow to red above 1 (fail), the colour changing
abruptly at 1.0. Colourbar: "error / allowed". Each heatmap's title names the tensor (and the
gate) and its verdict.

The rows of a picture (top to bottom):

1. *Results and input gradients*, one heatmap per tensor that is not a parameter gradient,
   in the family's causal order (output, h_n, c_n, dx, dh0, dc0 for an LSTM; h_next, c_next,
   dx, dh, dc for an LSTMCell). Unit (or input feature) on y; on x: the time step for the
   sequences (output, dx; max over the batch, batch_first transposed to time-major), the
   layer and direction for a layer's states (max over the batch), the batch for a cell.
2. *Summaries*: every tensor's worst error / allowed as a bar, in causal order; for a gated
   family the *gate table*: every parameter gradient (rows) by gate (columns), each cell the
   worst error / allowed of that gate's block of rows; for a layer family the worst error /
   allowed of each sequence at each time step, and the last layer's hidden states (batch 0)
   of both sides overlaid.
3. *Parameter gradients of one layer and direction* (the one holding the first failing
   parameter gradient, else layer 0 forward): for a gated family one row per parameter and
   one panel per gate (weight_ih rows stacked i, f, g, o for the LSTM, r, z, n for the GRU,
   each gate's H rows a panel titled with the gate; unit within the gate on y, the column the
   weight reads from on x), so a gate-order bug lights up exactly the swapped gates' panels
   and a one-gate bug one column of panels; weight_hr (not stacked by gate) is one panel.
   For the RNN and RNNCell (no gates) one row, one panel per parameter.

Where the gates come from: the record's ``gates`` attribute when it has one, else the words
its ``locate`` gives a row of the stacked matrix ("gate f, unit 2": ``gated_common.gate_row``),
so this module names no family and a new gated family is drawn without an edit here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.contract import impl_name, limits_note
from ..core.family import flat
from ..core.runs import run_both

VMIN, VMAX = 1e-3, 1e3  # the colour scale of error / allowed; 1.0 (the budget) is its middle
LABEL = "error / allowed"
NO_GATE = None  # the gate of a panel of a tensor that is not stacked by gate


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


# =======================================================================================
# The data behind the panels (no matplotlib): what the tests assert on.
# =======================================================================================
@dataclass
class Panel:
    """One heatmap: ``ratio`` is error / allowed as drawn (rows along y, columns along x)."""

    tensor: str  # "grad weight_ih_l0", "c_n", ...
    gate: str | None  # "f" for the f gate's rows of a stacked gradient; None otherwise
    ratio: np.ndarray  # 2-D
    title: str
    xlabel: str
    ylabel: str
    xticklabels: list | None = None  # labels of the x positions (layer / direction), or None

    @property
    def worst(self) -> float:
        """The greatest error / allowed in the panel (0 for an empty tensor)."""
        return float(np.max(self.ratio)) if self.ratio.size else 0.0


@dataclass
class Picture:
    """Everything one picture shows, computed from one ``core.runs.Run``."""

    run: object
    title: str
    results: list  # [Panel]: forward results and input gradients, causal order
    params: list  # [[Panel]]: one list per parameter of the shown layer/direction, one Panel per gate
    group: str  # the shown layer and direction in words ("" for a cell)
    gates: tuple  # the family's gate names ("i", "f", "g", "o"), () without gates
    # The gate table: every parameter gradient (rows) by gate (columns), worst error / allowed.
    gate_table: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    gate_table_rows: list = field(default_factory=list)
    steps: dict = field(default_factory=dict)  # sequence tensor -> worst error / allowed per time step

    def panel(self, tensor: str, gate: str | None = NO_GATE) -> Panel:
        for p in self.results + [p for row in self.params for p in row]:
            if p.tensor == tensor and p.gate == gate:
                return p
        raise KeyError((tensor, gate))


def _float(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def _is_param(tensor: str) -> bool:
    return tensor.startswith("grad ")


_GROUP = re.compile(r"^(?:weight|bias)_(?:ih|hh|hr)(.*)$")
_LAYER = re.compile(r"^_l(\d+)(_reverse)?$")


def param_group(tensor: str) -> str:
    """The layer-and-direction suffix of a parameter gradient (torch's naming):
    "grad weight_hh_l1_reverse" -> "_l1_reverse"; a cell's "grad bias_ih" -> ""."""
    m = _GROUP.match(tensor.removeprefix("grad "))
    return m.group(1) if m else ""


def group_words(suffix: str) -> str:
    m = _LAYER.match(suffix)
    if not m:
        return suffix.strip("_")
    return f"layer {m.group(1)}, {'reverse' if m.group(2) else 'forward'} direction"


_GATE_WORDS = re.compile(r"\bgate (\w+)")


def gate_blocks(family, config, tensor: str, shape: tuple) -> list:
    """The gate blocks of a parameter gradient's rows: ``[(gate, rows slice), ...]`` in the
    stacked order, or ``[(None, all rows)]`` for a tensor not stacked by gate (the RNN's, a
    projection's). From the record's ``gates`` when it has them (rows = len(gates) * H), else
    from the words its ``locate`` gives each row ("gate f, unit 2")."""
    rows = shape[0] if shape else 0
    whole = [(NO_GATE, slice(0, rows))]
    if not rows:
        return whole
    gates = tuple(getattr(family, "gates", ()) or ())
    if gates:
        if rows % len(gates) or "_hr" in tensor:
            return whole
        H = rows // len(gates)
        return [(g, slice(k * H, (k + 1) * H)) for k, g in enumerate(gates)]
    names = []
    for r in range(rows):
        m = _GATE_WORDS.search(family.locate(config, tensor, (r,) + (0,) * (len(shape) - 1)))
        if m is None:
            return whole
        names.append(m.group(1))
    blocks, start = [], 0
    for r in range(1, rows + 1):
        if r == rows or names[r] != names[start]:
            blocks.append((names[start], slice(start, r)))
            start = r
    return blocks


def family_gates(family, config, comparisons) -> tuple:
    """The family's gate names in stacked order, read off its first gated parameter."""
    for c in comparisons:
        if _is_param(c.tensor):
            blocks = gate_blocks(family, config, c.tensor, _shape_of(config, c.tensor))
            if blocks[0][0] is not NO_GATE:
                return tuple(g for g, _ in blocks)
    return ()


def _shape_of(config, tensor: str) -> tuple:
    return tuple(config.param_shapes()[tensor.removeprefix("grad ")])


def _verdict(c) -> str:
    worst = c.max_abs / c.allowed_abs if c.allowed_abs > 0 else (0.0 if c.max_abs == 0 else np.inf)
    if c.passed:
        return f"pass (worst {worst:.2g} x allowed)"
    return f"FAIL (worst {worst:.2g} x allowed, {c.mismatched}/{c.total} over)"


def _block_verdict(ratio: np.ndarray) -> str:
    worst = float(np.max(ratio)) if ratio.size else 0.0
    over = int(np.sum(ratio > 1.0))
    return (f"FAIL (worst {worst:.2g} x allowed, {over}/{ratio.size} over)" if over
            else f"pass (worst {worst:.2g} x allowed)")


def _sequence_names(family, config) -> tuple:
    """The tensors laid out like x (time and batch): the first forward result (output) and
    the first returned gradient (dx), when the configuration is a sequence's."""
    if not hasattr(config, "seq_len"):
        return ()
    return (flat(family.forward_returns)[0], flat(family.backward_returns)[0])


def _direction_labels(config, n: int) -> list:
    D = getattr(config, "num_directions", 1)
    return [f"l{i // D}" + (" rev" if i % D else (" fwd" if D > 1 else "")) for i in range(n)]


def _column_words(family, config, tensor: str, shape: tuple) -> str:
    """What a weight gradient's column reads from, in the record's words ("input feature")."""
    if len(shape) < 2:
        return ""
    words = family.locate(config, tensor, (0,) * len(shape))
    m = re.search(r"from (.*)$", words)
    if not m:
        return "column"
    what = re.sub(r" \d+( of .*)?$", r"\1", m.group(1))  # "unit 0 of o * tanh(c)" -> "unit of o * tanh(c)"
    layer = re.match(r"layer (\d+) \w+ unit$", what)
    if layer:
        return f"layer {layer.group(1)}'s unit (direction-major)"
    return what


def result_panels(run) -> tuple[list, dict]:
    """Panels of the tensors that are not parameter gradients, and the worst error / allowed
    per time step of each sequence tensor."""
    fam, config = run.case.family, run.case.config
    seq = _sequence_names(fam, config)
    batch_first = getattr(config, "batch_first", False)
    panels, steps = [], {}
    for c in run.comparisons:
        if _is_param(c.tensor):
            continue
        ratio = error_over_allowed(run.mine[c.tensor], run.ref[c.tensor], c.allowed_abs)
        ticks = None
        if c.tensor in seq and ratio.ndim == 3:
            ratio = np.swapaxes(ratio, 0, 1) if batch_first else ratio  # (T, B, n)
            steps[c.tensor] = ratio.reshape(ratio.shape[0], -1).max(axis=1) if ratio.size else np.zeros(0)
            ratio2 = ratio.max(axis=1).T if ratio.shape[1] else np.zeros((ratio.shape[2], ratio.shape[0]))
            xlabel, note = "time step", " (max over batch)"
            ylabel = "input feature" if c.tensor == seq[1] else "unit (direction-major)"
        elif ratio.ndim == 3:  # a layer's state (L*D, B, n)
            ratio2 = ratio.max(axis=1).T if ratio.shape[1] else np.zeros((ratio.shape[2], ratio.shape[0]))
            xlabel, ylabel, note = "layer, direction", "unit", " (max over batch)"
            ticks = _direction_labels(config, ratio.shape[0])
        elif ratio.ndim == 2:  # a cell's (B, n)
            ratio2 = ratio.T
            xlabel, ylabel, note = "batch", "input feature" if c.tensor == flat(fam.backward_returns)[0] else "unit", ""
        else:
            ratio2 = ratio.reshape(1, -1) if ratio.ndim < 2 else ratio.reshape(ratio.shape[0], -1)
            xlabel, ylabel, note = "index", "", ""
        panels.append(Panel(c.tensor, NO_GATE, ratio2, f"{c.tensor}{note}\n{_verdict(c)}", xlabel, ylabel, ticks))
    return panels, steps


def param_panels(run, tensor: str) -> list:
    """One Panel per gate of a parameter gradient (one Panel without gates): the gate's rows
    (unit within the gate on y) by the columns the weight reads from (x); a bias is one
    column."""
    fam, config = run.case.family, run.case.config
    c = next(c for c in run.comparisons if c.tensor == tensor)
    ratio = error_over_allowed(run.mine[tensor], run.ref[tensor], c.allowed_abs)
    shape = tuple(ratio.shape)
    xlabel = _column_words(fam, config, tensor, shape) if ratio.ndim > 1 else ""
    panels = []
    for gate, rows in gate_blocks(fam, config, tensor, shape):
        block = ratio[rows]
        block2 = block[:, None] if block.ndim == 1 else block.reshape(block.shape[0], -1)
        if gate is NO_GATE:
            title = f"{tensor}\n{_verdict(c)}"
            ylabel = "projected unit" if "_hr" in tensor else "unit"
        else:
            title = f"{tensor}: gate {gate}\n{_block_verdict(block2)}"
            ylabel = f"unit (gate {gate})"
        panels.append(Panel(tensor, gate, block2, title, xlabel, ylabel))
    return panels


def gate_table(run, gates: tuple) -> tuple[np.ndarray, list]:
    """Every parameter gradient (rows, causal order) by gate (columns): the worst error /
    allowed of the gate's rows; NaN where a tensor has no such gate (a projection)."""
    fam, config = run.case.family, run.case.config
    names, table = [], []
    for c in run.comparisons:
        if not _is_param(c.tensor):
            continue
        ratio = error_over_allowed(run.mine[c.tensor], run.ref[c.tensor], c.allowed_abs)
        row = np.full(max(len(gates), 1), np.nan)
        for gate, rows in gate_blocks(fam, config, c.tensor, tuple(ratio.shape)):
            block = ratio[rows]
            worst = float(np.max(block)) if block.size else 0.0
            if gate is NO_GATE and gates:
                continue
            row[gates.index(gate) if gate is not NO_GATE else 0] = worst
        names.append(c.tensor.removeprefix("grad "))
        table.append(row)
    return (np.array(table) if table else np.zeros((0, max(len(gates), 1)))), names


def parity_picture(run, cls=None) -> Picture:
    """The data of one picture (see the module docstring for its rows); ``cls`` names the
    implementation in the title."""
    fam, config, comparisons = run.case.family, run.case.config, run.comparisons
    results, steps = result_panels(run)
    grads = [c for c in comparisons if _is_param(c.tensor)]
    first_bad = next((c for c in grads if not c.passed), None)
    group = param_group(first_bad.tensor) if first_bad else (param_group(grads[0].tensor) if grads else "")
    params = [param_panels(run, c.tensor) for c in grads if param_group(c.tensor) == group]
    gates = family_gates(fam, config, comparisons)
    table, names = gate_table(run, gates) if gates else (np.zeros((0, 0)), [])
    failed = [c.tensor for c in comparisons if not c.passed]
    verdict = ("FAIL: " + ", ".join(failed[:4]) + (" ..." if len(failed) > 4 else "") + " differ") if failed \
        else "pass: every tensor within tolerance"
    who = impl_name(cls) if cls is not None else "implementation"
    note = limits_note(cls) if cls is not None else ""
    title = f"{who} vs {fam.torch_name}: {config.short()}\n{verdict}" + (f"\n{note}" if note else "")
    return Picture(run, title, results, params, group_words(group), gates, table, names, steps)


# =======================================================================================
# Drawing.
# =======================================================================================
def _norm():
    from matplotlib.colors import LogNorm

    return LogNorm(vmin=VMIN, vmax=VMAX)


def _integer_axes(ax, x=True, y=True) -> None:
    from matplotlib.ticker import MaxNLocator

    if x:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if y:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def _draw_panel(ax, panel: Panel, cmap):
    im = ax.imshow(clipped(panel.ratio), aspect="auto", origin="lower", cmap=cmap, norm=_norm(),
                   interpolation="nearest")
    ax.set_title(panel.title, fontsize=8, color="darkred" if panel.worst > 1.0 else "black")
    ax.set_xlabel(panel.xlabel, fontsize=8)
    ax.set_ylabel(panel.ylabel, fontsize=8)
    ax.tick_params(labelsize=7)
    _integer_axes(ax)
    if panel.xticklabels is not None:
        ax.set_xticks(range(len(panel.xticklabels)), panel.xticklabels)
    elif panel.ratio.shape[1] == 1:  # a bias: one column, nothing to number
        ax.set_xticks([])
    return im


def _colorbar(fig, im, cax):
    bar = fig.colorbar(im, cax=cax, extend="both")
    bar.set_label(LABEL, fontsize=8)
    bar.ax.tick_params(labelsize=7)
    bar.ax.axhline(1.0, color="black", lw=1.5)
    return bar


def _bar_panel(ax, comparisons):
    names = [c.tensor.removeprefix("grad ") for c in comparisons]
    worst = [clipped(error_over_allowed(c.max_abs, 0.0, c.allowed_abs)) for c in comparisons]
    ax.bar(range(len(names)), worst, color=["tab:blue" if c.passed else "tab:red" for c in comparisons])
    ax.axhline(1.0, color="black", ls=":", label="budget (1.0)")
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=6 if len(names) > 16 else 7)
    ax.set(ylabel=LABEL, yscale="log", ylim=(VMIN / 1.5, VMAX * 1.5))
    ax.set_title("each tensor's worst error / allowed\n(causal order; red: fails)", fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    ax.legend(fontsize=7)


def _gate_table_panel(ax, picture: Picture, cmap):
    from matplotlib.patches import Rectangle

    table = picture.gate_table
    im = ax.imshow(clipped(np.nan_to_num(table, nan=VMIN)), aspect="auto", cmap=cmap, norm=_norm(),
                   interpolation="nearest")
    for (r, g), v in np.ndenumerate(table):  # a gate a tensor has not (a projection) is hatched
        if np.isnan(v):
            ax.add_patch(Rectangle((g - 0.5, r - 0.5), 1, 1, fill=False, hatch="///", color="gray", lw=0))
    ax.set_xticks(range(len(picture.gates)), [f"gate {g}" for g in picture.gates], fontsize=7)
    ax.set_yticks(range(len(picture.gate_table_rows)), picture.gate_table_rows,
                  fontsize=6 if len(picture.gate_table_rows) > 12 else 7)
    ax.set_title("gate table: worst error / allowed\nof each gate's rows", fontsize=8)
    return im


def _steps_panel(ax, picture: Picture):
    ax.axhspan(1.0, VMAX * 2, color="tab:red", alpha=0.08, lw=0)
    for (name, worst), marker in zip(picture.steps.items(), "os^v"):
        ax.plot(np.arange(len(worst)), clipped(worst), marker=marker, label=name)
    ax.axhline(1.0, color="black", ls=":", label="budget (1.0)")
    # no y label: the gate table's colour bar beside it carries the same words, and they overlapped
    ax.set(yscale="log", ylim=(VMIN / 1.5, VMAX * 1.5))
    ax.set_xlabel("time step", fontsize=8)
    ax.set_title("worst error / allowed at each time step\n(above 1: fails)", fontsize=8)
    ax.tick_params(labelsize=7)
    _integer_axes(ax, y=False)
    ax.legend(fontsize=7)


def _trajectory_panel(ax, run):
    fam, config = run.case.family, run.case.config
    name = _sequence_names(fam, config)[0]
    tm = (lambda z: np.swapaxes(z, 0, 1)) if getattr(config, "batch_first", False) else (lambda z: z)
    mine, ref = tm(_float(run.mine[name])), tm(_float(run.ref[name]))
    if ref.ndim != 3 or not ref.shape[1]:
        ax.set_axis_off()
        return
    steps = np.arange(ref.shape[0])
    for u in range(min(ref.shape[2], 4)):
        line = ax.plot(steps, ref[:, 0, u], lw=3, alpha=0.4, label=f"torch unit {u}")[0]
        ax.plot(steps, mine[:, 0, u], ls="--", color=line.get_color(), label=f"impl unit {u}")
    ax.set_xlabel("time step", fontsize=8)
    ax.set_title(f"{name} (last layer), batch 0\ntorch thick, impl dashed", fontsize=8)
    ax.tick_params(labelsize=7)
    _integer_axes(ax, y=False)
    ax.legend(fontsize=6, ncol=2)


def _row(fig, spec, widths: list, colorbar: bool, wspace: float = 0.32):
    """One row of the picture: axes of the given relative widths, and a narrow colourbar axis
    at the right end when asked (None otherwise)."""
    ratios = list(widths) + ([0.045 * max(sum(widths), 1.0) / max(len(widths), 1)] if colorbar else [])
    inner = spec.subgridspec(1, len(ratios), width_ratios=ratios, wspace=wspace)
    axes = [fig.add_subplot(inner[0, k]) for k in range(len(widths))]
    return axes, (fig.add_subplot(inner[0, len(widths)]) if colorbar else None)


def draw_picture(picture: Picture):
    """The matplotlib figure of a Picture (the caller saves and closes it). A plain grid of
    rows, no layout engine (constrained layout took 5-10 s per picture)."""
    import matplotlib.pyplot as plt

    cmap = pass_fail_colormap()
    gated = bool(picture.gates)
    layered = bool(picture.steps)
    param_rows = picture.params if gated else ([[p for row in picture.params for p in row]] if picture.params else [])
    ncols = max(len(picture.results), max((len(r) for r in param_rows), default=0), 4)
    many = len(picture.run.comparisons) > 12
    # Room under the bars' rotated names (about 0.06 inch per character at 60 degrees, beyond
    # what the gap between rows already gives): a spacer row without axes.
    longest = max((len(c.tensor) - len("grad ") for c in picture.run.comparisons), default=0)
    spacer = max(0.0, 0.06 * longest - 0.9)
    heights = [2.6, 3.0] + ([spacer] if spacer else []) + [2.2 if gated else 2.6] * len(param_rows)
    first_param = 3 if spacer else 2
    pad = 1.2  # inches between rows: two-line titles above, labels below
    top, bottom = 1.0, 0.5
    height = sum(heights) + pad * (len(heights) - 1) + top + bottom
    fig = plt.figure(figsize=(max(14.0, 2.9 * ncols), height))
    outer = fig.add_gridspec(len(heights), 1, height_ratios=heights, hspace=pad / np.mean(heights),
                             left=0.05, right=0.96, top=1 - top / height, bottom=bottom / height)

    def heading(spec, text):
        box = spec.get_position(fig)
        fig.text(0.01, box.y1 + 0.55 / height, text, fontsize=9, fontweight="bold", va="bottom")

    axes, cax = _row(fig, outer[0], [1.0] * len(picture.results) + [1.0] * (ncols - len(picture.results)), True)
    ims = [_draw_panel(ax, p, cmap) for ax, p in zip(axes, picture.results)]
    for ax in axes[len(picture.results):]:
        ax.set_axis_off()
    _colorbar(fig, ims[0], cax)
    heading(outer[0], "results and input gradients")

    summary = ["bars"] + (["gates", "gate bar"] if gated else []) + (["steps", "trajectory"] if layered else [])
    widths = {"bars": 2.4 if many else 1.5, "gates": 0.7, "gate bar": 0.035, "steps": 1.0, "trajectory": 1.0}
    axes, _ = _row(fig, outer[1], [widths[s] for s in summary], False, wspace=0.55)
    table_im = None
    for ax, what in zip(axes, summary):
        if what == "bars":
            _bar_panel(ax, picture.run.comparisons)
        elif what == "gates":
            table_im = _gate_table_panel(ax, picture, cmap)
        elif what == "gate bar":
            _colorbar(fig, table_im, ax)
        elif what == "steps":
            _steps_panel(ax, picture)
        else:
            _trajectory_panel(ax, picture.run)
    heading(outer[1], "summaries")

    for k, row in enumerate(param_rows):
        width = len(picture.gates) if gated else len(row)
        axes, cax = _row(fig, outer[first_param + k], [1.0] * max(width, len(row)), True)
        ims = [_draw_panel(ax, p, cmap) for ax, p in zip(axes, row)]
        for ax in axes[len(row):]:
            ax.set_axis_off()
        _colorbar(fig, ims[0], cax)
        if k == 0:
            what = f"parameter gradients of {picture.group}" if picture.group else "parameter gradients"
            heading(outer[first_param], what + (": one row per parameter, one panel per gate" if gated else ""))
    fig.suptitle(picture.title, fontsize=10, y=1 - 0.1 / height, va="top")
    return fig


def save_figure(fig, path) -> Path:
    """Save a figure as PNG (creating the folder) and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _agg() -> None:
    import matplotlib

    matplotlib.use("Agg")


def plot_run(run, path, cls=None) -> Picture:
    """Draw a ``core.runs.Run`` to ``path`` (PNG); returns the Picture (the data drawn)."""
    _agg()
    picture = parity_picture(run, cls)
    save_figure(draw_picture(picture), path)
    return picture


def plot_parity(cls, case, path):
    """Run ``cls`` and torch on ``case`` and draw the picture to ``path``; returns the
    comparisons (causal order)."""
    run = run_both(cls, case)
    plot_run(run, path, cls)
    return run.comparisons


# =======================================================================================
# One picture per family (the report's --png).
# =======================================================================================
def family_png(path, family: str) -> Path:
    """Where the picture of ``family`` goes for ``--png path``: the family's name before the
    suffix ("report/parity.png" -> "report/parity_lstm.png")."""
    path = Path(path)
    return path.with_name(f"{path.stem}_{family}{path.suffix or '.png'}")


def representative_cases(family, seed: int = 0) -> list:
    """The family's report cases (its rows' ``report``), most capable first: the most
    float64 before float32, then the most parameter tensors (layers x directions,
    projection), then the table's order. A picture of a plug-in that declines the first falls back to the next."""
    from ..core.cases import report_cases

    cases = [case for row in family.rows for case in report_cases(row, seed)]
    order = sorted(range(len(cases)), key=lambda k: (cases[k].config.dtype != "float64",
                                                    -len(cases[k].config.param_shapes()), k))
    return [cases[k] for k in order]


def plot_families(picks: dict, path, *, seed: int = 0, out=print) -> dict:
    """One PNG per family, at ``family_png(path, family)``. ``picks``: family name ->
    ``(cls, case)``, the case to draw (the first failing one, say) or None for the family's
    most capable report case the plug-in accepts (``representative_cases``). A plug-in that
    declines every case, breaks the contract or raises gets a line on ``out`` and no picture.
    Returns family name -> path written."""
    from ..core.contract import ContractViolation, ImplementationError, Unsupported
    from ..families import FAMILIES

    written = {}
    for name, (cls, case) in picks.items():
        candidates = [case] if case is not None else representative_cases(FAMILIES[name], seed)
        target, reason = family_png(path, name), "nothing to draw"
        for candidate in candidates:
            try:
                plot_parity(cls, candidate, target)
            except Unsupported as exc:
                reason = f"declined every case it was offered ({len(candidates)}); the last: {exc}"
                continue
            except (ContractViolation, ImplementationError) as exc:
                reason = str(exc)
                break
            written[name] = target
            out(f"wrote {target} ({name}: {candidate.config.short()})")
            break
        if name not in written:
            out(f"no picture for {name}: {reason}")
    return written

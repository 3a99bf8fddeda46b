"""``rnn-parity train-demo``: the seeds' training tasks, your RNN class (or scratch's) and
torch side by side.

    rnn-parity train-demo [--rnn-impl module:Class] [--out report/train_demo.png]
                          [--sine-epochs 100] [--steps N]

Both sides start from identical weights, see identical batches and use the same optimizer
rule; after every step the parameters are compared (bound: parity_tests/tools/training.py).
Tasks: seed 000's noisy sine (RNN + Linear head, MSE, Adam with amsgrad) and seed 002's
counting RNN (linear recurrence, no bias, SGD and RMSprop, 2001 updates).

Without --rnn-impl the model's RNN is scratch's (``rnn_parity.scratch.model.SequenceModel``).
With it, the class (loaded like everywhere else, ``core.contract.load_impl``) is put inside
the same model under the RNN contract: constructed with torch.nn.RNN's arguments, weights
assigned into ``params`` before every forward, ``forward`` / ``backward`` / ``grads``. The
counting task needs ``nonlinearity="identity"``, which torch.nn.RNN (and so the contract)
does not have: a class that refuses it (any exception from its constructor) skips that task.

Prints, per run, whether the trajectories agree (the greatest per-step divergence of the
parameters and its bound), the final losses, and the counting task's final weights next to
the post's; writes a PNG with the loss curves of both sides overlaid and the sine wave the
trained model generates. Exit status: 0 when every run that ran stays within its bound, 1
when one leaves it or the class breaks the contract (or nothing ran), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.threads import pin_threads
from . import positive_int

pin_threads()

import numpy as np  # noqa: E402
import torch  # noqa: E402

from .training import counting_task, plugin_model, sine_data, sine_task, train_side_by_side  # noqa: E402

POST = {"SGD": (1.0597, 0.9863), "RMSprop": (0.9995, 0.9993)}  # printed in seed 002


def generate(predict, f, window=25):
    """Seed 000's closed loop: start from the first window, feed predictions back."""
    z = list(f[:window])
    for _ in range(len(f) - window):
        z.append(float(predict(np.array(z[-window:])[None, :, None])))
    return np.array(z)




def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rnn-parity train-demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rnn-impl", metavar="module:Class", default=None,
                        help="your RNN class to train beside torch (default: scratch's own RNN)")
    parser.add_argument("--out", default="report/train_demo.png", metavar="PATH",
                        help="the PNG (default report/train_demo.png; parent folders are created)")
    parser.add_argument("--sine-epochs", type=positive_int, default=100, metavar="N",
                        help="epochs of the sine task (default 100)")
    parser.add_argument("--steps", type=positive_int, default=None, metavar="N",
                        help="stop every run after N steps (a smoke run; default: each task's own length)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    pin_threads()
    from ..core.contract import ContractViolation, ImplementationError, Unsupported, impl_name, load_impl

    if args.rnn_impl is not None:
        try:
            cls = load_impl(args.rnn_impl)
        except ValueError as exc:
            parser.error(f"--rnn-impl: {exc}")
        model_cls, label = plugin_model(cls), "impl"
        print(f"training impl = {impl_name(cls)} beside torch.nn.RNN")
    else:
        model_cls, label = None, "scratch"

    tasks = {
        "sine": sine_task(epochs=args.sine_epochs),
        "SGD": counting_task(("SGD", dict(lr=1e-5))),
        "RMSprop": counting_task(("RMSprop", dict(lr=1e-3))),
    }
    runs, skipped, broken = {}, {}, {}
    for key, task in tasks.items():
        steps = min(task.steps, args.steps) if args.steps else None
        if model_cls is not None and task.model_kwargs.get("nonlinearity") == "identity":
            try:  # outside the contract: a class may refuse it, and the task is skipped
                model_cls(**task.model_kwargs)
            except (Unsupported, ImplementationError) as exc:
                skipped[key] = str(exc)
                continue
        try:
            runs[key] = train_side_by_side(task, steps, **({"model_cls": model_cls} if model_cls else {}))
        except (Unsupported, ImplementationError, ContractViolation) as exc:
            broken[key] = str(exc)

    for key, why in skipped.items():
        print(f"{tasks[key].name}: skipped: nonlinearity='identity' is outside the contract and the class refused it: {why}")
    for key, why in broken.items():
        print(f"{tasks[key].name}: FAIL: {why}")
    if not runs:
        print("nothing was trained")
        return 1

    failed = 0
    print(f"{'run':<38} {'steps':>6} {'max divergence':>15} {'bound there':>12} "
          f"{'final loss ' + label:>19} {'torch':>12}")
    for traj in runs.values():
        k = int(np.argmax(np.array(traj.divergence) / np.array(traj.allowed)))
        ok = traj.first_violation is None
        failed += not ok
        print(f"{traj.task:<38} {len(traj.divergence):>6} {max(traj.divergence):>15.3e} {traj.allowed[k]:>12.3e} "
              f"{traj.loss_scratch[-1]:>19.6g} {traj.loss_torch[-1]:>12.6g}  "
              f"{'agree' if ok else 'DIVERGED at step %d' % traj.first_violation}")

    print(f"\nper-step max parameter divergence |{label} - torch| / |torch| (bound), at ten evenly spaced steps")
    for traj in runs.values():
        n = len(traj.divergence)
        picks = sorted({int(round(i * (n - 1) / 9)) for i in range(10)})
        print(f"{traj.task}:")
        print("  " + "  ".join(f"{k}: {traj.divergence[k]:.1e} ({traj.allowed[k]:.0e})" for k in picks))

    counted = [name for name in ("SGD", "RMSprop") if name in runs]
    if counted:
        n = len(runs[counted[0]].divergence)
        print(f"\ncounting task (seed 002), final weights after {n} updates; exact solution (1, 1)"
              + ("" if n == 2001 else " (the post's numbers are after 2001)"))
        print(f"{'optimizer':<22} {label + ' (wx, wRec)':>20} {'torch (wx, wRec)':>20} {'post (wx, wRec)':>18}")
        for name in counted:
            tr = runs[name]
            ws = tuple(float(tr.params_scratch[k][0, 0]) for k in ("rnn.weight_ih_l0", "rnn.weight_hh_l0"))
            wt = tuple(float(tr.params_torch[k][0, 0]) for k in ("rnn.weight_ih_l0", "rnn.weight_hh_l0"))
            text = {"SGD": "GD, lr 1e-5", "RMSprop": "RMSprop, lr 1e-3"}[name]
            print(f"{text:<22} {ws[0]:>9.4f}, {ws[1]:<9.4f} {wt[0]:>9.4f}, {wt[1]:<9.4f} "
                  f"{POST[name][0]:>8.4f}, {POST[name][1]:<8.4f}")

    _plot(runs, Path(args.out), label)
    print(f"\nwrote {args.out}")
    agree = not failed and not broken
    print(f"trajectories agree: {'yes' if agree else 'NO'} ({len(runs)} run(s) trained, {failed} diverged"
          f"{', ' + str(len(broken)) + ' failed to run' if broken else ''}"
          f"{', ' + str(len(skipped)) + ' skipped' if skipped else ''})")
    return 0 if agree else 1


def _plot(runs, out: Path, label: str = "scratch"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.parent.mkdir(parents=True, exist_ok=True)
    short = label
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    ax = axes[0, 0]
    if "sine" in runs:
        tr = runs["sine"]
        ax.plot(tr.loss_torch, color="tab:orange", lw=3, alpha=0.6, label="torch")
        ax.plot(tr.loss_scratch, color="black", lw=1, ls="--", label=short)
        ax.set(title=f"{tr.task}: training loss (MSE)", xlabel="step", yscale="log")
        ax.legend()
    else:
        ax.set(title="sine task: did not run")

    ax = axes[0, 1]
    for name, color in (("SGD", "tab:blue"), ("RMSprop", "tab:green")):
        if name in runs:
            tr = runs[name]
            ax.plot(tr.loss_torch, color=color, lw=3, alpha=0.5, label=f"{name} torch")
            ax.plot(tr.loss_scratch, color="black", lw=1, ls="--", label=f"{name} {short}")
    ax.set(title="counting (seed 002): loss sum (y - t)^2", xlabel="step", yscale="log")
    if any(name in runs for name in ("SGD", "RMSprop")):
        ax.legend()
    else:
        ax.text(0.5, 0.5, "skipped (did not run)", ha="center", va="center", transform=ax.transAxes)

    ax = axes[1, 0]
    _, _, f = sine_data()
    _, _, clean = sine_data(noise=0.0)
    ax.plot(clean, color="gray", ls=":", label="sin (no noise)")
    ax.plot(f, color="gray", lw=0.8, alpha=0.6, label="training signal (noisy)")
    if "sine" in runs:
        model = runs["sine"].model_scratch
        ax.plot(generate(lambda x: model.predict(x)[0, 0], f), color="black", label=f"{short} model, closed loop")
    ax.axvline(25, color="gray", lw=0.5)
    ax.set(title=f"sine wave generated by the trained {short} model", xlabel="t", ylim=(-1.5, 1.5))
    ax.legend(fontsize=8)

    ax = axes[1, 1]
    for key, color in (("sine", "black"), ("SGD", "tab:blue"), ("RMSprop", "tab:green")):
        if key in runs:
            tr = runs[key]
            ax.plot(np.maximum(tr.divergence, 1e-18), color=color, lw=1, label=f"{tr.task}: |{short} - torch|")
            ax.plot(tr.allowed, color=color, lw=1, ls=":", label="bound")
    ax.set(title="per-step parameter divergence (relative) and its bound", xlabel="step", yscale="log")
    ax.legend(fontsize=7)
    from matplotlib.ticker import MaxNLocator

    for ax in (axes[0, 0], axes[0, 1], axes[1, 1]):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())

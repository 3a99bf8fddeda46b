"""The plug-in options, declared once: the pytest plugin and every ``rnn-parity`` subcommand
(check, report, repro, train-demo) add these and resolve them with ``resolve``.

Importing this module is light (the family catalog only): the pytest plugin declares its
options in every pytest run of every project where rnn-parity is installed.
"""

from __future__ import annotations

from .families import CATALOG, entry

REDUCTIONS = ("sum", "mean")


def option_specs() -> list[tuple[tuple[str, ...], dict]]:
    """``[(flags, keyword arguments)]``, valid for argparse's ``add_argument`` and pytest's
    ``addoption`` alike."""
    specs = [
        ((e.option,), dict(default=None, metavar="module:Class",
                           help=f"your class to check against {e.torch_name} (default {e.default_impl})"
                                + (" -- or a module of a course's functions, with --convention"
                                   if e.name in ("rnn", "rnn_cell", "lstm", "lstm_cell") else "")))
        for e in CATALOG
    ]
    specs += [
        (("--convention",), dict(default=None, metavar="NAME",
                                 help="the plug-in is written in this convention: --rnn-impl column, rows, "
                                      "cs231n (a module of functions), columns (deeplearning.ai), dlfs2 (Deep Learning from "
                                      "Scratch 2's TimeRNN); --cell-impl, --lstm-impl and --lstm-cell-impl "
                                      "cs231n, columns, dlfs2; README, Conventions")),
        (("--reduction",), dict(default="sum", choices=REDUCTIONS,
                                help="how your weight and bias gradients reduce over the batch: sum "
                                     "(torch's, the default) or mean (divided by the batch size)")),
        (("--gate-order",), dict(action="append", default=None, metavar="ORDER",
                                 help="the order of the stacked gates your LSTM/GRU (or cell) reads: a "
                                      "permutation of i,f,g,o (c = g) or r,z,n (h = n), or keras; give it "
                                      "twice for an LSTM and a GRU; README, Conventions")),
        (("--gru-update",), dict(default="torch", choices=("torch", "complement"),
                                 help="complement: your GRU (or GRUCell) computes h' = z*n + (1-z)*h "
                                      "(torch: h' = (1-z)*n + z*h)")),
        (("--strict-dtype",), dict(action="store_true", default=False,
                                   help="a tensor your plug-in returns in another dtype than its inputs' "
                                        "(float64 from np.zeros for float32 input, ...) fails the case; by "
                                        "default it is a warning and only the values decide (each judged at "
                                        "the precision of the inputs). The harness's own classes always run strict")),
    ]
    return specs


def given(values: dict) -> bool:
    """Was any plug-in option given (``values``: option -> value as parsed)? ``--strict-dtype``
    alone is not one: it qualifies the plug-ins (the default classes run strict anyway)."""
    return any(values.get(e.option) for e in CATALOG) or bool(values.get("--convention")) \
        or values.get("--reduction", "sum") != "sum" or bool(values.get("--gate-order")) \
        or (values.get("--gru-update") or "torch") != "torch"


def families_checked(values: dict) -> list[str]:
    """The families a run with these options checks: those whose plug-ins are given; the RNN
    when only options that qualify it are (``--reduction mean``, ``--strict-dtype``); none
    named (every family, the harness's own classes) when no plug-in option is given."""
    names = [e.name for e in CATALOG if values.get(e.option)]
    return names or (["rnn"] if given(values) else [])


def resolve(values: dict) -> dict:
    """``values``: option -> value as parsed (``"--rnn-impl"`` -> ``"mod:Cls"`` or None, and
    ``"--convention"``, ``"--reduction"``, ``"--strict-dtype"``) -> family name -> the class
    under test. A bad option raises ValueError naming it. A plug-in carries its dtype policy
    (``core/dtypes.with_dtype_policy``): a dtype mismatch is a warning, or with
    ``--strict-dtype`` a failure; the default classes are strict."""
    from .families.conventions import FAMILY_CONVENTIONS, MODULE_CONVENTIONS, adapt
    from .core.contract import load_impl, load_module, with_reduction
    from .core.dtypes import with_dtype_policy
    from .families.gated_conventions import GATED_FAMILIES, NAMED_ORDERS, adapt_gated, gate_orders

    convention, reduction = values.get("--convention"), values.get("--reduction") or "sum"
    known = sorted({c for conventions in FAMILY_CONVENTIONS.values() for c in conventions})
    if convention is not None and convention not in known:
        raise ValueError(f"--convention must be one of {known}, got {convention!r}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"--reduction must be one of {list(REDUCTIONS)}, got {reduction!r}")
    # --convention applies to each given plug-in whose family has it (CS231n's rnn_layers.py
    # holds both rnn_* and lstm_* functions: --rnn-impl my_layers --lstm-impl my_layers).
    conventional = [e for e in CATALOG if values.get(e.option) and convention in FAMILY_CONVENTIONS.get(e.name, ())]
    if convention is not None and not conventional:
        # Without this, --lstm-impl my_layers --convention columns applied the convention to
        # the default --rnn-impl (scratch's class) and said "--rnn-impl: this convention
        # takes a module name", an option the user never gave.
        has = "; ".join(f"{entry(f).option}: {', '.join(c)}" for f, c in FAMILY_CONVENTIONS.items())
        raise ValueError(
            f"--convention {convention} describes none of the plug-ins given (conventions by plug-in: {has}); "
            "a gated plug-in's labelings are --gate-order and --gru-update (README, Conventions)")
    orders = gate_orders(values.get("--gate-order"))  # ValueError names --gate-order
    gru_update = values.get("--gru-update") or "torch"
    gated_given = [e.option for e in CATALOG if e.name in GATED_FAMILIES and values.get(e.option)]
    for e in conventional:
        if e.name in GATED_FAMILIES and orders.get(GATED_FAMILIES[e.name]):
            # The course's own order is part of the convention (CS231n's i, f, o, g); an order
            # on top of it would be an order relative to that one, which no one means.
            raise ValueError(f"--gate-order does not combine with {e.option} --convention {convention}: the "
                             "convention fixes the gate order (README, Conventions)")
    if (orders or gru_update != "torch") and not gated_given:
        raise ValueError("--gate-order and --gru-update describe a gated plug-in: give it with --lstm-impl, "
                         "--gru-impl, --lstm-cell-impl or --gru-cell-impl")
    # Each labeling must describe a plug-in given: an LSTM's order beside a GRU alone was
    # silently unused (a newcomer's run passed with --gate-order ifgo and --gru-impl only).
    kinds_given = {GATED_FAMILIES[e.name] for e in CATALOG if e.name in GATED_FAMILIES and values.get(e.option)}
    options_of = {kind: " or ".join(e.option for e in CATALOG if GATED_FAMILIES.get(e.name) == kind)
                  for kind in ("lstm", "gru")}
    unused = sorted({kind for kind in orders if kind not in kinds_given})
    named = any(str(v).strip().lower() in NAMED_ORDERS for v in orders.values())  # keras: both kinds at once
    if unused and not named:
        kind = unused[0]
        raise ValueError(f"--gate-order {orders[kind]} is an order of the {kind.upper()}'s gates, but no "
                         f"{kind.upper()} plug-in is given ({options_of[kind]}): it would describe nothing")
    if gru_update != "torch" and "gru" not in kinds_given:
        raise ValueError(f"--gru-update {gru_update} describes a GRU, but no GRU plug-in is given "
                         f"({options_of['gru']})")
    impls = {}
    for e in CATALOG:
        spec = values.get(e.option) or e.default_impl
        # One --convention serves every given plug-in whose family has it; a plug-in of another
        # kind (a class RNN beside a CS231n LSTM module) is checked in a run of its own.
        shared = (f" (--convention {convention} applies to each of {', '.join(c.option for c in conventional)}: "
                  "check a plug-in in another convention in a separate run)") if len(conventional) > 1 else ""
        try:
            if e in conventional:
                target = load_module(spec) if convention in MODULE_CONVENTIONS else load_impl(spec)
                try:
                    cls = adapt(target, convention, "sum", spec, family=e.name)
                except TypeError as exc:  # the wrong kind of target (a module without the functions): usage
                    raise ValueError(str(exc).removeprefix("target: ")) from None
            else:
                cls = _load_class(e, spec)
            if e.name in GATED_FAMILIES and values.get(e.option):
                kind = GATED_FAMILIES[e.name]
                cls = adapt_gated(cls, e.name, gate_order=orders.get(kind),
                                  gru_update=gru_update if kind == "gru" else None, spec=spec)
        except ValueError as exc:
            raise ValueError(f"{e.option}: {exc}{shared if e in conventional else ''}") from None
        if reduction != "sum" and values.get(e.option):
            cls = with_reduction(cls, reduction)
        if values.get(e.option):
            cls = with_dtype_policy(cls, bool(values.get("--strict-dtype")))
        impls[e.name] = cls
    return impls


def _load_class(entry, spec: str):
    """``module:Class`` -> the class, or a ValueError that says what to give instead: a
    newcomer with CS231n's functions named the module alone, or ``my_layers:lstm_forward``
    (which crashed the run with a TypeError from deep inside the harness)."""
    import importlib
    import inspect

    from .core.contract import load_impl
    from .families.conventions import FAMILY_CONVENTIONS, MODULE_CONVENTIONS, module_functions

    modules = [c for c in FAMILY_CONVENTIONS.get(entry.name, ()) if c in MODULE_CONVENTIONS]

    def hint(module=None):
        fits = [c for c in modules if module is None
                or all(callable(getattr(module, f, None)) for f in module_functions(entry.name, c))]
        if not fits:
            return ""
        fns = list(dict.fromkeys(f for c in fits for f in module_functions(entry.name, c)))
        name = spec.split(":")[0] if isinstance(spec, str) else "my_layers"
        return (f"; a module of functions ({', '.join(fns)}) is given by its name with its convention: "
                f"{entry.option} {name} --convention {' (or '.join(fits)}{')' * (len(fits) - 1)}")

    try:
        target = load_impl(spec)
    except ValueError as exc:
        if isinstance(spec, str) and ":" not in spec:
            raise ValueError(f"{exc}{hint()}") from None
        raise
    if not inspect.isclass(target):
        module = importlib.import_module(spec.split(":")[0])
        raise ValueError(f"{spec!r} is a {type(target).__name__}, not a class: the plug-in is a class under the "
                         f"contract ({entry.option} module:Class){hint(module)}")
    return target

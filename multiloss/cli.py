"""The ``multiloss`` command.

    multiloss check [--loss NAME] [--frameworks torch,jax] [--json]
        every reference case on every installed framework; exit 0 when all pass
    multiloss compare LOSS data.npz [--param NAME=VALUE ...] [--frameworks ...] [--json]
        one loss on your own data in every installed framework, with the differences
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import os
import sys
from collections.abc import Sequence
from typing import Any

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def _split(values: str | Sequence[str] | None) -> list[str] | None:
    """``--loss a --loss b,c`` -> ``[a, b, c]``; ``--frameworks torch,jax`` -> ``[torch, jax]``."""
    if not values:
        return None
    if isinstance(values, str):
        values = [values]
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _parse_param(text: str) -> tuple[str, Any]:
    """``NAME=VALUE``; the value is a Python literal (``0.1``, ``[1, 2]``, ``None``) or a string."""
    name, sep, raw = text.partition("=")
    if not sep or not name.strip():
        raise ValueError(f"--param takes NAME=VALUE, got {text!r}")
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return name.strip(), value


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _fmt(x: float) -> str:
    if not math.isfinite(x):
        return str(x)
    return "0" if x == 0 else f"{x:.1e}"


class _Progress:
    """A progress bar on stderr (rich when available and stderr is a terminal)."""

    def __init__(self, enabled: bool):
        self.bar: Any = None
        self.task: Any = None
        self.enabled = enabled and sys.stderr.isatty()
        if not self.enabled:
            return
        try:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self.bar = Progress(
                TextColumn("checking"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.description}"), console=Console(stderr=True), transient=True,
            )
        except ImportError:
            self.bar = None

    def __enter__(self) -> _Progress:
        if self.bar is not None:
            self.bar.start()
        return self

    def __call__(self, done: int, total: int, label: str) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            if self.task is None:
                self.task = self.bar.add_task(label, total=total)
            self.bar.update(self.task, completed=done, description=label)
        else:
            width = 30
            filled = int(width * done / max(total, 1))
            sys.stderr.write(f"\rchecking [{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label:<40}")
            sys.stderr.flush()

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.stop()
        elif self.enabled:
            sys.stderr.write("\r" + " " * 100 + "\r")


def render_report(report: Any) -> str:
    """The ``multiloss check`` table and summary for a :class:`~multiloss.conformance.Report`."""
    from multiloss.comparison import adapter_label, format_table

    v = report.versions
    lines = [f"multiloss {v['multiloss']} conformance check: reference values and gradients "
             "from peer libraries (torch.nn.functional, optax, tf.nn, keras.losses) or float64 formulas"]
    names = []
    for adapter in report.adapters:
        if adapter in report.import_errors:
            continue
        label = adapter_label(adapter) if adapter == "keras" and report.keras_backend else adapter
        names.append(f"{label} {v.get(adapter, '?')}")
    lines.append("frameworks: " + (", ".join(names) or "none"))
    if report.keras_backend and report.keras_backend_reason:
        lines.append(f"keras runs on {report.keras_backend}: {report.keras_backend_reason}")
    for adapter, why in report.skipped.items():
        lines.append(f"skipped {adapter}: {why}")
    for adapter, why in report.import_errors.items():
        lines.append(f"FAIL {adapter}: {why}")
    lines.append("")
    rows = [["loss", "framework", "cases", "value abs err", "value rel err",
             "grad abs err", "grad rel err", "f16/bf16 rel err", "of tolerance", "result"]]
    for row in report.rows:
        label = f"keras ({report.keras_backend})" if row.adapter == "keras" and report.keras_backend else row.adapter
        worst = row.of_tolerance
        rows.append([
            row.loss, label, str(row.cases), _fmt(row.value.abs), _fmt(row.value.rel),
            _fmt(row.grad.abs), _fmt(row.grad.rel), _fmt(row.half.rel),
            f"{worst:.0%}" if math.isfinite(worst) else "inf",
            "pass" if row.ok else f"FAIL {row.failed}/{row.cases}",
        ])
    if report.rows:
        lines.append(format_table(rows))
    failures = [(row, case, msg) for row in report.rows for case, msg in row.failures]
    if failures:
        lines += ["", "failures:"]
        lines += [f"  {row.loss}/{case} on {row.adapter}: {msg}" for row, case, msg in failures]
    if report.missing:
        lines += ["", "registered losses without reference cases: " + ", ".join(report.missing)]
    if report.unknown:
        lines += ["", "reference cases for losses this version does not have (ignored): " + ", ".join(report.unknown)]
    lines.append("")
    losses = sorted({row.loss for row in report.rows})
    if report.ok:
        lines.append(
            f"PASS: {_plural(len(losses), 'loss', 'losses')} x {_plural(len(report.adapters), 'framework')}, "
            f"{report.case_runs} case runs, "
            "every value and gradient within tolerance"
        )
    else:
        bad = sorted({row.loss for row in report.failed_rows} | set(report.missing))
        reasons = []
        if bad:
            reasons.append(f"{len(bad)} of {len(set(losses) | set(report.missing))} losses failed: {', '.join(bad)}")
        if report.import_errors:
            reasons.append(f"{', '.join(report.import_errors)} could not be imported (see above)")
        if not report.adapters:
            reasons = ["no framework installed (pip install 'multiloss[all]')"]
        reason = "; ".join(reasons) or "no reference case ran"
        lines.append(f"FAIL: {reason}")
    return "\n".join(lines)


def check(args: argparse.Namespace) -> int:
    from multiloss import conformance

    try:
        with _Progress(not args.no_progress) as progress:
            report = conformance.run(_split(args.loss), _split(args.frameworks), progress=progress)
    except ValueError as exc:
        print(f"multiloss check: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
    else:
        print(render_report(report))
    return EXIT_OK if report.ok else EXIT_FAIL


def compare(args: argparse.Namespace) -> int:
    import numpy as np

    from multiloss.comparison import compare as run_compare
    from multiloss.core.registry import get_spec

    try:
        spec = get_spec(args.loss)
        params = dict(_parse_param(p) for p in args.param)
        with np.load(args.file) as data:
            arrays = {k: data[k] for k in data.files}
    except (ValueError, OSError, EOFError) as exc:  # EOFError: an empty file
        print(f"multiloss compare: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if all(k.startswith("arr_") for k in arrays) and len(arrays) == len(spec.tensors):
        arrays = {name: arrays[f"arr_{i}"] for i, name in enumerate(spec.tensors)}  # np.savez(f, a, b)
    unknown = sorted(set(arrays) - set(spec.arguments) - set(spec.params))
    missing = [k for k in spec.arguments if k not in arrays and k not in params]
    if unknown or missing:
        print(
            f"multiloss compare: {args.file} must hold arrays named {list(spec.tensors)} "
            f"(and optionally parameters {sorted(spec.params)}); "
            f"missing {missing}, unexpected {unknown}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    # static arguments (num_sampled, ...) and parameters stored as 0-d arrays: Python values
    params = {**{k: v.item() if k in spec.static else v for k, v in arrays.items()
                 if k in spec.params or k in spec.static}, **params}
    tensors = {k: arrays[k] for k in spec.tensors}
    try:
        result = run_compare(
            args.loss, frameworks=_split(args.frameworks), rtol=args.rtol, atol=args.atol,
            **tensors, **params,
        )
    except (ValueError, TypeError) as exc:
        print(f"multiloss compare: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(json.dumps(result.to_dict(), indent=1) if args.json else result)
    return EXIT_OK if result.ok else EXIT_FAIL


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="multiloss",
        description="multiloss: the same loss values and gradients in Keras, PyTorch, JAX and TensorFlow.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{check,compare}")
    frameworks_help = "comma-separated subset of keras,torch,jax,tensorflow (default: every installed one)"

    p = sub.add_parser(
        "check", help="run the conformance suite: every reference case on every installed framework",
        description="Run every reference case (values and gradients) on every installed framework and "
        "print a loss x framework table of the worst errors. Exit 0 when everything is within tolerance.",
    )
    p.add_argument("--loss", action="append", metavar="NAME", help="only this loss (repeatable, or comma-separated)")
    p.add_argument("--frameworks", metavar="LIST", help=frameworks_help)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=check)

    p = sub.add_parser(
        "compare", help="compute one loss on your data (.npz) in every installed framework",
        description="Compute LOSS and its gradients on the arrays of FILE (an .npz whose arrays are named "
        "like the loss' tensor arguments, e.g. y_pred and y_true) in every installed framework and print "
        "each framework's value and the largest differences. Exit 0 when they agree within tolerance.",
    )
    p.add_argument("loss", help="a loss name (python -c 'import multiloss; print(multiloss.available_losses())')")
    p.add_argument("file", help=".npz file with the tensor arguments")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a loss parameter as a Python literal, e.g. --param label_smoothing=0.1 (repeatable)")
    p.add_argument("--frameworks", metavar="LIST", help=frameworks_help)
    p.add_argument("--rtol", type=float, help="agreement tolerance (default by dtype)")
    p.add_argument("--atol", type=float, help="agreement tolerance (default by dtype)")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.set_defaults(handler=compare)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())

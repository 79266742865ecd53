"""The ``multiloss`` command.

    multiloss check [--loss NAME] [--frameworks torch,jax] [--json]
        every reference case on every installed framework; exit 0 when all pass
    multiloss compare LOSS data.npz [--param NAME=VALUE ...] [--frameworks ...] [--json]
        one loss on your own data in every installed framework, with the differences
    multiloss --version
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import difflib
import json
import math
import os
import re
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from multiloss import __version__

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


def _percent(x: float) -> str:
    """``18%``; from 1000% on in powers of ten (``5e+05%``), so the column stays narrow."""
    if not math.isfinite(x):
        return str(x)
    return f"{x:.0%}" if x < 9.995 else f"{100 * x:.0e}%"


# --- native log lines on stderr ----------------------------------------------------------

#: A line of absl / TensorFlow's C++ logging, ``I0000 00:00:1795695141.641100   26171 port.cc:153] ...``
#: (severity, MMDD, time: before absl is initialised the "seconds" are a Unix time, thread, file:line).
_NATIVE_LOG = re.compile(r"[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\] ")
#: Any start of such a line (it may still become one): held back until the line is complete.
_NATIVE_LOG_START = re.compile(r"[IWEF](\d{0,3}|\d{4}( [\d:.]*( +\d*( \S*)?)?)?)")
_ABSL_PREAMBLE = b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"


def _is_native_log(line: bytes) -> bool:
    text = line.decode("utf-8", "replace")
    return bool(_NATIVE_LOG.match(text)) or line.rstrip(b"\r\n") == _ABSL_PREAMBLE


def _may_become_native_log(partial: bytes) -> bool:
    text = partial.decode("utf-8", "replace")
    return (
        bool(_NATIVE_LOG_START.fullmatch(text) or _NATIVE_LOG.match(text))
        or _ABSL_PREAMBLE.startswith(partial)
    )


@contextlib.contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Drop TensorFlow / absl C++ log lines from stderr for the duration of the block.

    TensorFlow's C++ side writes lines such as ``I0000 00:00:... port.cc:153] oneDNN custom
    operations are on ...`` (and absl's ``WARNING: All log messages before
    absl::InitializeLog() ...``) to file descriptor 2 directly, whatever
    ``TF_CPP_MIN_LOG_LEVEL`` says. Here fd 2 is pointed at a pipe; a thread forwards what
    arrives to the real stderr unchanged, except lines of that format. A partial line is
    forwarded at once (a progress bar stays live) unless it may still become a log line;
    such a start is held until its line is complete. fd 2 is restored on exit, exceptions
    included.
    """
    try:
        sys.stderr.flush()
        real = os.dup(2)
    except (OSError, ValueError):  # no usable stderr: nothing to filter
        yield
        return
    read_end, write_end = os.pipe()

    def write(data: bytes) -> None:
        while data:
            try:
                data = data[os.write(real, data):]
            except OSError:
                return

    def pump() -> None:
        pending = b""  # the start of a line that may become a log line
        mode = "start"  # "start" of a line, "forward" or "drop" the rest of the current one
        while True:
            try:
                chunk = os.read(read_end, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            out = []
            *lines, rest = chunk.split(b"\n")
            for piece in [line + b"\n" for line in lines] + ([rest] if rest else []):
                complete = piece.endswith(b"\n")
                if mode == "forward":
                    out.append(piece)
                elif mode == "drop":
                    pass
                else:
                    line = pending + piece
                    pending = b""
                    if complete:
                        if not _is_native_log(line):
                            out.append(line)
                    elif _is_native_log(line):
                        mode = "drop"
                    elif _may_become_native_log(line):
                        pending = line
                    else:
                        out.append(line)
                        mode = "forward"
                if complete:
                    mode = "start"
            if out:
                write(b"".join(out))
        if pending:
            write(pending)

    thread = threading.Thread(target=pump, name="multiloss-stderr", daemon=True)
    try:
        os.dup2(write_end, 2)
    finally:
        os.close(write_end)
    thread.start()
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(real, 2)  # closes the pipe's last write end: the thread reads to the end
        thread.join(timeout=5)
        if not thread.is_alive():  # else a child process holds the pipe: leave both open to it
            os.close(real)
            os.close(read_end)


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
                TextColumn("{task.description}"), transient=True,
                # a terminal, even once quiet_native_logs() has pointed fd 2 at a pipe
                console=Console(stderr=True, force_terminal=True),
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
    """The ``multiloss check`` table and summary for a :class:`~multiloss.conformance.Report`.

    The table fits a 100-column terminal whatever the loss names: each loss heads its own
    line, with one indented row per framework under it.
    """
    from multiloss.comparison import adapter_label, format_table

    v = report.versions
    lines = [f"multiloss {v['multiloss']} conformance check: values and gradients vs peer libraries "
             "or float64 formulas"]
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
    rows = [["loss / framework", "cases", "value abs", "value rel", "grad abs", "grad rel",
             "half rel", "of tol", "result"]]
    for row in report.rows:
        label = f"keras ({report.keras_backend})" if row.adapter == "keras" and report.keras_backend else row.adapter
        rows.append([
            "  " + label, str(row.cases), _fmt(row.value.abs), _fmt(row.value.rel),
            _fmt(row.grad.abs), _fmt(row.grad.rel), _fmt(row.half.rel), _percent(row.of_tolerance),
            "pass" if row.ok else f"FAIL {row.failed}/{row.cases}",
        ])
    if report.rows:
        table = format_table(rows).splitlines()
        lines += table[:2]
        loss = None
        for row, text in zip(report.rows, table[2:], strict=True):
            if row.loss != loss:
                loss = row.loss
                lines.append(loss)
            lines.append(text)
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

    progress = _Progress(not args.no_progress)  # asks whether stderr is a terminal: first
    try:
        with quiet_native_logs(), progress:
            report = conformance.run(_split(args.loss), _split(args.frameworks), progress=progress)
    except ValueError as exc:
        print(f"multiloss check: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
    else:
        print(render_report(report))
    return EXIT_OK if report.ok else EXIT_FAIL


def _check_param_names(spec: Any, params: dict[str, Any]) -> None:
    """A ValueError naming the first ``--param`` the loss does not take, with the closest match."""
    known = [*spec.params, *spec.static]
    for name in params:
        if name in known or name in spec.tensors:
            continue
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        takes = f"its parameters are {', '.join(known)}" if known else "it takes no parameters"
        raise ValueError(f"unknown parameter {name!r} for {spec.name} ({takes}){hint}")


def compare(args: argparse.Namespace) -> int:
    import numpy as np

    from multiloss.comparison import compare as run_compare
    from multiloss.core.registry import get_spec

    try:
        spec = get_spec(args.loss)
        params = dict(_parse_param(p) for p in args.param)
        _check_param_names(spec, params)
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
        with quiet_native_logs():
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
    parser.add_argument("--version", action="version", version=f"multiloss {__version__}")
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

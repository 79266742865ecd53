"""The ``multiloss`` command: parse the arguments and dispatch to the command.

    multiloss check [--loss NAME] [--frameworks torch,jax] [--json] [--no-progress]
        every reference case on every installed framework; exit 0 when all pass
    multiloss compare LOSS data.npz [--param NAME=VALUE ...] [--frameworks ...] [--json]
        one loss on your own data in every installed framework, with the differences
    multiloss --version

Exit status: 0 pass / agree, 1 fail / differ, 2 a usage error (printed as one line on
stderr: ``multiloss check: unknown loss(es) ['focal']; ...``).
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
from collections.abc import Sequence
from typing import Any

from multiloss import __version__
from multiloss.verify.console import UsageError

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def split_names(values: str | Sequence[str] | None) -> list[str] | None:
    """``--loss a --loss b,c`` -> ``[a, b, c]``; ``--frameworks torch,jax`` -> ``[torch, jax]``."""
    if not values:
        return None
    if isinstance(values, str):
        values = [values]
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def parse_param(text: str) -> tuple[str, Any]:
    """``NAME=VALUE``; the value is a Python literal (``0.1``, ``[1, 2]``, ``None``) or a string."""
    name, sep, raw = text.partition("=")
    if not sep or not name.strip():
        raise UsageError(f"--param takes NAME=VALUE, got {text!r}")
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return name.strip(), value


def _check(args: argparse.Namespace) -> bool:
    from multiloss.verify.check import check_command

    return check_command(
        split_names(args.loss), split_names(args.frameworks),
        as_json=args.json, progress=not args.no_progress,
    )


def _compare(args: argparse.Namespace) -> bool:
    from multiloss.verify.compare import compare_command

    params = dict(parse_param(p) for p in args.param)
    return compare_command(
        args.loss, args.file, params, frameworks=split_names(args.frameworks),
        rtol=args.rtol, atol=args.atol, as_json=args.json,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="multiloss",
        description="multiloss: the same loss values and gradients in Keras, PyTorch, JAX and "
        "TensorFlow.",
    )
    parser.add_argument("--version", action="version", version=f"multiloss {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{check,compare}")
    frameworks_help = (
        "comma-separated subset of keras,torch,jax,tensorflow (default: every installed one)"
    )

    p = sub.add_parser(
        "check",
        help="run the conformance suite: every reference case on every installed framework",
        description="Run every reference case (values and gradients) on every installed "
        "framework and print a loss x framework table of the worst errors. Exit 0 when "
        "everything is within tolerance.",
    )
    p.add_argument("--loss", action="append", metavar="NAME",
                   help="only this loss (repeatable, or comma-separated)")
    p.add_argument("--frameworks", metavar="LIST", help=frameworks_help)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=_check)

    p = sub.add_parser(
        "compare", help="compute one loss on your data (.npz) in every installed framework",
        description="Compute LOSS and its gradients on the arrays of FILE (an .npz whose "
        "arrays are named like the loss' tensor arguments, e.g. y_pred and y_true) in every "
        "installed framework and print each framework's value and the largest differences. "
        "Exit 0 when they agree within tolerance.",
    )
    p.add_argument("loss", help="a loss name "
                   "(python -c 'import multiloss; print(multiloss.available_losses())')")
    p.add_argument("file", help=".npz file with the tensor arguments")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a loss parameter as a Python literal, e.g. --param label_smoothing=0.1 "
                   "(repeatable)")
    p.add_argument("--frameworks", metavar="LIST", help=frameworks_help)
    p.add_argument("--rtol", type=float, help="agreement tolerance (default by dtype)")
    p.add_argument("--atol", type=float, help="agreement tolerance (default by dtype)")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.set_defaults(handler=_compare)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its exit status."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    try:
        return EXIT_OK if args.handler(args) else EXIT_FAIL
    except UsageError as exc:
        print(f"multiloss {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())

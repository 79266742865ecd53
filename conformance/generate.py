"""Regenerate the reference files: ``python -m conformance.generate`` (from the repository root).

Runs every case builder in ``conformance/cases/`` (expected values from peer libraries
or float64 formulas, never from multiloss) and writes one file per loss to
``multiloss/verify/data/<loss>.json``, the folder ``multiloss check`` reads.
Deterministic: inputs come from generators seeded by the loss name, the references run
in float64 on one thread, expected values keep 10 significant digits and the JSON is
written with sorted keys, so an unchanged builder reproduces its file byte for byte.

    python -m conformance.generate                 # every loss
    python -m conformance.generate --loss focal    # only the named loss(es)
    python -m conformance.generate --check         # exit 1 if a committed file differs
    python -m conformance.generate --out /tmp/ref  # write elsewhere
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # run as a script: make `conformance` and `multiloss` importable
    sys.path.insert(0, str(ROOT))

DEFAULT_OUT = ROOT / "multiloss" / "verify" / "data"


def _setup() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["KERAS_BACKEND"] = "tensorflow"  # keras.losses cross-checks: one fixed backend
    import torch  # before TensorFlow, always

    torch.set_num_threads(1)
    import jax

    jax.config.update("jax_enable_x64", True)


def render(loss: str, cases: list[dict]) -> str:
    from multiloss.verify.encoding import dump_json

    data = {
        "loss": loss,
        "generated_by": "python -m conformance.generate (conformance/cases/)",
        "cases": cases,
    }
    return dump_json(data) + "\n"


def check_signature(loss: str, cases: list[dict]) -> None:
    """Cases must name the registered loss' tensor arguments and parameters."""
    from multiloss.core.registry import registry

    spec = registry().get(loss)
    if spec is None:
        return
    for c in cases:
        if sorted(c["inputs"]) != sorted(spec.arguments):
            raise ValueError(f"{loss}/{c['name']}: inputs {sorted(c['inputs'])}, loss takes {spec.arguments}")
        unknown = sorted(set(c["params"]) - set(spec.params))
        if unknown:
            raise ValueError(f"{loss}/{c['name']}: unknown parameters {unknown}")


def generate(losses: list[str] | None = None) -> tuple[dict[str, str], int]:
    """Build the cases; returns ``({file name: text}, number of cases)`` (nothing written)."""
    _setup()
    import multiloss.core  # noqa: F401  (registers the losses, for the signature check)
    from conformance.cases import build_all

    files, count = {}, 0
    for loss, cases in build_all(losses):
        check_signature(loss, cases)
        files[f"{loss}.json"] = render(loss, cases)
        count += len(cases)
    return files, count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.generate", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    parser.add_argument("--loss", action="append", help="only this loss (repeatable)")
    parser.add_argument("--check", action="store_true", help="compare with the files in --out, write nothing")
    args = parser.parse_args(argv)
    files, count = generate(args.loss)
    existing = {p.name for p in args.out.glob("*.json")} if args.out.exists() else set()
    stale = set() if args.loss else existing - set(files)
    if args.check:
        differ = sorted(
            name for name, text in files.items()
            if not (args.out / name).exists() or (args.out / name).read_text(encoding="utf-8") != text
        )
        for name in differ:
            print(f"differs: {args.out / name}")
        for name in sorted(stale):
            print(f"no builder: {args.out / name}")
        return 1 if differ or stale else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (args.out / name).write_text(text, encoding="utf-8")
    for name in stale:
        (args.out / name).unlink()
    print(f"wrote {len(files)} files ({count} cases) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

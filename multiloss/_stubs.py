"""Type stubs for the adapters (``multiloss/<adapter>.pyi``), written from the registry.

The adapters build their functions and classes at run time from the core registry, so
type checkers and IDEs see nothing but a module ``__getattr__``. The stubs give them each
adapter's real signatures: its own argument order and defaults, every keyword by name
(a misspelt ``gama=2.0`` is a type error), the class forms with their constructor and
call. ``tests/test_stubs.py`` fails when a stub is out of date.

    python -m multiloss._stubs            # rewrite the four stubs
    python -m multiloss._stubs --check    # exit 1 if one would change
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import sys
from pathlib import Path
from typing import Any

from multiloss.core.registry import LossSpec, StatefulSpec, registry, stateful_registry

HERE = Path(__file__).resolve().parent
HEADER = (
    "# Generated from the loss registry by `python -m multiloss._stubs`: do not edit.\n"
    "# The module builds these names at run time; this file shows them to type checkers.\n"
)


@dataclasses.dataclass(frozen=True)
class Adapter:
    """What a stub for one adapter looks like."""

    imports: tuple[str, ...]
    tensor: str  # the type the functions return
    loss_class: str | None  # base of the loss class forms, None: no class forms
    state_base: str  # base of the stateful classes ("" for a plain class)
    state_methods: tuple[str, ...]  # stub lines of the stateful classes' methods ({inputs})
    state_init: str = ""  # constructor parameters the stateful classes' base adds
    extras: tuple[str, ...] = ()  # further stub lines (other public names)


ADAPTERS = {
    "torch": Adapter(
        imports=("import torch",),
        tensor="torch.Tensor",
        loss_class="torch.nn.Module",
        state_base="torch.nn.Module",
        state_methods=("def forward(self, {inputs}) -> torch.Tensor: ...",),
    ),
    "jax": Adapter(
        imports=("import jax", "from multiloss.core.ops.jax_ops import data_parallel as data_parallel"),
        tensor="jax.Array",
        loss_class=None,
        state_base="",
        state_methods=(
            "def init(self, dtype: Any = ...) -> dict[str, jax.Array]: ...",
            "def apply(self, state: dict[str, Any], {inputs}) -> tuple[jax.Array, dict[str, jax.Array]]: ...",
            "def __call__(self, state: dict[str, Any], {inputs}) -> tuple[jax.Array, dict[str, jax.Array]]: ...",
        ),
    ),
    "tensorflow": Adapter(
        imports=("import tensorflow as tf",),
        tensor="tf.Tensor",
        loss_class=None,
        state_base="tf.Module",
        state_init="name: str | None = ...",
        state_methods=("def __call__(self, {inputs}) -> tf.Tensor: ...",),
    ),
    "keras": Adapter(
        imports=(
            "import keras",
            "from multiloss._keras_head import LinearCrossEntropyHead as LinearCrossEntropyHead",
            "from multiloss.core.registry import LossSpec, StatefulSpec",
        ),
        tensor="Any",
        loss_class="MultilossLoss",
        state_base="MultilossLayer",
        state_init="name: str | None = ..., dtype: Any = ..., trainable: bool = ...",
        state_methods=("def call(self, {inputs}) -> Any: ...",),
        extras=(
            "class MultilossLoss(keras.losses.Loss):",
            "    spec: LossSpec",
            "    params: dict[str, Any]",
            "    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = ...) -> Any: ...",
            "    def call(self, y_true: Any, y_pred: Any) -> Any: ...",
            "    def get_config(self) -> dict[str, Any]: ...",
            "",
            "class MultilossLayer(keras.layers.Layer):",
            "    spec: StatefulSpec",
            "    config: dict[str, Any]",
            "    def get_config(self) -> dict[str, Any]: ...",
        ),
    ),
}


def _annotation(default: Any) -> str:
    """``bool``/``str`` for flags and choices; ``Any`` for the rest (a float parameter
    often takes a per-class vector too)."""
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, str):
        return "str"
    return "Any"


def _parameters(signature: inspect.Signature, skip_self: bool = True) -> str:
    """A signature's parameters as stub text: every default is ``...``."""
    out: list[str] = []
    star_written = False
    for p in signature.parameters.values():
        if skip_self and p.name == "self":
            continue
        if p.kind is p.KEYWORD_ONLY and not star_written:
            out.append("*")
            star_written = True
        if p.kind is p.VAR_POSITIONAL:
            out.append(f"*{p.name}: Any")
            star_written = True
            continue
        if p.kind is p.VAR_KEYWORD:
            out.append(f"**{p.name}: Any")
            continue
        if p.default is p.empty:
            out.append(f"{p.name}: Any")
        else:
            out.append(f"{p.name}: {_annotation(p.default)} = ...")
    return ", ".join(out)


def _doc_line(doc: str) -> str:
    """The first paragraph of ``doc`` on one line (the summary an IDE shows)."""
    paragraph = (doc or "").strip().split("\n\n")[0]
    return " ".join(paragraph.split()).replace("\\", "\\\\").replace('"', '\\"')


def _function(name: str, function: Any, tensor: str) -> list[str]:
    summary = _doc_line(getattr(function, "__wrapped__", function).__doc__ or "")
    return [
        f"def {name}({_parameters(inspect.signature(function))}) -> {tensor}:",
        f'    """{summary}"""',
        "",
    ]


def _loss_class(adapter: str, spec: LossSpec, cls: type, config: Adapter) -> list[str]:
    init = _parameters(inspect.signature(cls.__init__))
    lines = [f"class {spec.class_name}({config.loss_class}):"]
    lines.append(f'    """{_doc_line(cls.__doc__ or "")}"""')
    lines.append(f"    def __init__(self{', ' if init else ''}{init}) -> None: ...")
    if adapter == "torch":
        tensors = ", ".join(f"{n}: Any" for n in spec.arguments)
        per_call = "".join(f", {n}: Any = ..." for n in spec.call_params)
        star = ", *" if per_call else ""
        lines.append(f"    def forward(self, {tensors}{star}{per_call}) -> torch.Tensor: ...")
        lines.append(f"    def __call__(self, {tensors}{star}{per_call}) -> torch.Tensor: ...")
    lines.append("")
    return lines


def _stateful_class(spec: StatefulSpec, cls: type, config: Adapter) -> list[str]:
    init = _parameters(inspect.signature(cls.__init__))
    if config.state_init:
        init += (", " if "*" in init.split(", ") else ", *, ") + config.state_init
    base = f"({config.state_base})" if config.state_base else ""
    inputs = ", ".join(f"{n}: Any" for n in spec.inputs)
    lines = [f"class {spec.class_name}{base}:", f'    """{_doc_line(spec.doc)}"""']
    lines.append(f"    def __init__(self, {init}) -> None: ...")
    lines += [f"    {m.format(inputs=inputs)}" for m in config.state_methods]
    lines.append("")
    return lines


def render(adapter: str) -> str:
    """The stub text of ``multiloss.<adapter>`` (imports the adapter)."""
    config = ADAPTERS[adapter]
    module = importlib.import_module(f"multiloss.{adapter}")
    third_party = [line for line in config.imports if "multiloss" not in line]
    first_party = [line for line in config.imports if "multiloss" in line]
    lines = [HEADER, "from typing import Any", "", *third_party, ""]
    lines += [*first_party, ""] if first_party else []
    lines += [f"__all__ = {sorted(module.__all__)!r}", ""]
    lines += [*config.extras, ""] if config.extras else []
    specs = sorted(registry().values(), key=lambda s: s.name)
    for spec in specs:
        lines += _function(spec.name, getattr(module, spec.name), config.tensor)
    if config.loss_class is not None:
        for spec in specs:
            if spec.class_name and spec.class_name in module.__all__:
                lines += _loss_class(adapter, spec, getattr(module, spec.class_name), config)
        for spec in specs:
            if spec.class_name and spec.class_name in module.__all__:
                lines += [f"{alias} = {spec.class_name}  # its earlier name" for alias in spec.class_aliases]
        lines.append("")
    for name, stateful in sorted(stateful_registry().items()):
        lines += _stateful_class(stateful, getattr(module, name), config)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m multiloss._stubs", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a stub would change")
    args = parser.parse_args(argv)
    import torch  # noqa: F401  (torch before tensorflow in one process)

    stale = []
    for adapter in ADAPTERS:
        path = HERE / f"{adapter}.pyi"
        text = render(adapter)
        current = path.read_text() if path.exists() else None
        if current != text:
            stale.append(path.name)
            if not args.check:
                path.write_text(text)
    if args.check and stale:
        print(f"stale stubs: {', '.join(stale)} (run python -m multiloss._stubs)", file=sys.stderr)
        return 1
    print(f"{'stale' if args.check else 'wrote'}: {', '.join(stale) or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

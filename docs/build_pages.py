"""Write the per-family reference pages of the docs from the core registry.

    python docs/build_pages.py          # (re)write docs/losses/*.md
    python docs/build_pages.py --check  # exit 1 if a page is out of date (tests use it)

Every page is made from the docstrings in ``multiloss/core/<family>.py``: the module
docstring opens the page, then each registered loss of that family with its signature
in each adapter and its docstring (formula, paper, shapes, peer equivalence). The
docstrings are the single source; this script only lays them out.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from multiloss.core.registry import LossSpec, StatefulSpec, registry, stateful_registry  # noqa: E402

OUT = HERE / "losses"


def _plain_signature(fn) -> str:
    """``fn``'s signature without ``self`` and annotations."""
    sig = inspect.signature(fn)
    params = [p.replace(annotation=inspect.Parameter.empty)
              for p in sig.parameters.values() if p.name != "self"]
    return str(sig.replace(parameters=params, return_annotation=inspect.Signature.empty))


def _layers() -> dict[str, list[type]]:
    """Keras layers built on a family's loss (documented on that family's page)."""
    from multiloss._keras_head import LinearCrossEntropyHead

    return {"linear": [LinearCrossEntropyHead]}


LAYERS = _layers()


def _families() -> dict[str, list[LossSpec]]:
    families: dict[str, list[LossSpec]] = {}
    for spec in sorted(registry().values(), key=lambda s: s.name):
        families.setdefault(spec.fn.__module__.rsplit(".", 1)[-1], []).append(spec)
    return families


def markdown(doc: str) -> str:
    """reStructuredText bits of a docstring as Markdown: math blocks, roles, literals."""
    out: list[str] = []
    lines = doc.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip() == ".. math::":
            indent = len(line) - len(line.lstrip())
            i += 1
            block: list[str] = []
            while i < len(lines) and (not lines[i].strip() or
                                      len(lines[i]) - len(lines[i].lstrip()) > indent):
                block.append(lines[i].strip())
                i += 1
            out += [" " * indent + "$$", *[" " * indent + b for b in block if b],
                    " " * indent + "$$", ""]
            continue
        out.append(line)
        i += 1
    text = "\n".join(out)
    text = re.sub(r":math:`([^`]*)`", r"$\1$", text)
    text = re.sub(r":(?:mod|func|class|data):`~?([^`]*)`", r"`\1`", text)
    return text.replace("``", "`")


def _signature(spec: LossSpec, order: tuple[str, ...], defaults: dict) -> str:
    sig = spec.signature(order)
    params = [
        p.replace(default=defaults[p.name]) if p.name in defaults else p
        for p in sig.parameters.values()
    ]
    return str(sig.replace(parameters=params))


def render(family: str, specs: list[LossSpec]) -> str:
    module = importlib.import_module(f"multiloss.core.{family}")
    lines = [f"# {family.replace('_', ' ').capitalize()}", ""]
    lines += [markdown(inspect.getdoc(module) or ""), ""]
    lines += ["| loss | `reduction=\"none\"` gives | class form |", "|---|---|---|"]
    for spec in specs:
        lines.append(
            f"| [`{spec.name}`](#{spec.name}) | {spec.kind.replace('_', ' ')} | "
            f"{'`' + spec.class_name + '`' if spec.class_name else '—'} |"
        )
    lines.append("")
    for spec in specs:
        core_sig = _signature(spec, spec.tensors, {})
        keras_sig = _signature(spec, spec.keras_order, {"reduction": "none"})
        lines += [
            f"## {spec.name}",
            "",
            "```python",
            f"multiloss.torch.{spec.name}{core_sig}",
            f"multiloss.jax.{spec.name}{core_sig}",
            f"multiloss.tensorflow.{spec.name}{core_sig}",
            f"multiloss.keras.{spec.name}{keras_sig}",
        ]
        if spec.keras_class_name:
            lines.append(f"multiloss.keras.{spec.keras_class_name}(...)   # keras.losses.Loss")
        if spec.class_name:
            lines.append(f"multiloss.torch.{spec.class_name}(...)  # nn.Module")
        lines += ["```", "", markdown(spec.doc), ""]
    for layer in LAYERS.get(family, ()):
        lines += [
            f"## {layer.__name__}",
            "",
            "```python",
            f"multiloss.keras.{layer.__name__}{_plain_signature(layer.__init__)}",
            "```",
            "",
            markdown(inspect.getdoc(layer) or ""),
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"


def _stateful_families() -> dict[str, list[StatefulSpec]]:
    families: dict[str, list[StatefulSpec]] = {}
    for spec in sorted(stateful_registry().values(), key=lambda s: s.class_name):
        families.setdefault(spec.step.__module__.rsplit(".", 1)[-1], []).append(spec)
    return families


def render_stateful(specs: list[StatefulSpec]) -> str:
    lines = []
    for spec in specs:
        state = ", ".join(
            f"`{v.name}` ({'trainable' if v.trainable else 'state'})" for v in spec.state
        )
        lines += [
            f"## {spec.class_name}",
            "",
            "```python",
            f"multiloss.keras.{spec.class_name}{spec.signature()}       # keras.layers.Layer",
            f"multiloss.torch.{spec.class_name}{spec.signature()}       # nn.Module",
            f"multiloss.tensorflow.{spec.class_name}{spec.signature()}  # tf.Module",
            f"multiloss.jax.{spec.class_name}{spec.signature()}         # .init() / .apply(state, ...)",
            f"# called with ({', '.join(spec.inputs)}); holds {state.replace('`', '')}",
            "```",
            "",
            markdown(spec.doc),
            "",
        ]
    return "\n".join(lines)


def pages() -> dict[Path, str]:
    stateful = _stateful_families()
    return {
        OUT / f"{family}.md": render(family, specs).rstrip("\n")
        + ("\n\n" + render_stateful(stateful[family]).rstrip("\n") if family in stateful else "")
        + "\n"
        for family, specs in _families().items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a page is out of date")
    args = parser.parse_args(argv)
    wanted = pages()
    if args.check:
        stale = [str(p.relative_to(HERE.parent)) for p, text in wanted.items()
                 if not p.exists() or p.read_text() != text]
        extra = [str(p.relative_to(HERE.parent)) for p in OUT.glob("*.md") if p not in wanted]
        for path in stale + extra:
            print(f"out of date: {path} (run python docs/build_pages.py)")
        return 1 if stale or extra else 0
    OUT.mkdir(exist_ok=True)
    for path in OUT.glob("*.md"):
        if path not in wanted:
            path.unlink()
    for path, text in wanted.items():
        path.write_text(text)
    print(f"wrote {len(wanted)} pages to {OUT.relative_to(HERE.parent)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())

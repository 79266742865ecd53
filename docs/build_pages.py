"""Write the per-family reference pages of the docs from the core registry.

    python docs/build_pages.py          # (re)write docs/losses/*.md
    python docs/build_pages.py --check  # exit 1 if a page is out of date (tests use it)

Every page is made from the docstrings in ``multiloss/core/<family>.py``: the module
docstring opens the page, then each registered loss of that family with its signature
in each adapter and its docstring (formula, paper, shapes, peer equivalence). The
docstrings are the single source; this script only lays them out, in Markdown by the
site's own converter (``docs/hooks/docstrings.py``, as the API reference). The core
examples (doctests over ``get_ops("jax")``) are shown as a user writes them: the PyTorch
adapter's example (``multiloss._help``, run by ``tests/test_help.py``), with links to each
adapter's entry in the API reference.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # Keras (LinearCrossEntropyHead) on TF
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE / "hooks"))

from docstrings import to_markdown  # noqa: E402

from multiloss import _help  # noqa: E402
from multiloss._adapter import public_signature  # noqa: E402
from multiloss.core.registry import LossSpec, StatefulSpec, registry, stateful_registry  # noqa: E402

OUT = HERE / "losses"
#: The adapters (API reference pages), as the site names them.
ADAPTERS = _help.TITLES
#: The framework whose example a family page shows (the others: in the API reference).
EXAMPLE_ADAPTER = "torch"
_EXAMPLE = re.compile(r"^Example:[ \t]*$", re.MULTILINE)


def _plain_signature(fn) -> str:
    """``fn``'s signature without ``self`` and annotations."""
    sig = inspect.signature(fn)
    params = [p.replace(annotation=inspect.Parameter.empty)
              for p in sig.parameters.values() if p.name != "self"]
    return str(sig.replace(parameters=params, return_annotation=inspect.Signature.empty))


def _keras_defaults() -> dict:
    """The parameter defaults of Keras' functions (``reduction="none"``, as Keras' own
    functional losses), as the Keras adapter sets them: the same Keras import as
    :func:`_layers`."""
    import multiloss.keras

    return dict(multiloss.keras._namespace.defaults)


def _layers() -> dict[str, list[type]]:
    """Keras layers built on a family's loss (documented on that family's page)."""
    from multiloss._keras_head import LinearCrossEntropyHead

    return {"linear": [LinearCrossEntropyHead]}


LAYERS = _layers()
KERAS_DEFAULTS = _keras_defaults()


def _families() -> dict[str, list[LossSpec]]:
    families: dict[str, list[LossSpec]] = {}
    for spec in sorted(registry().values(), key=lambda s: s.name):
        families.setdefault(spec.fn.__module__.rsplit(".", 1)[-1], []).append(spec)
    return families


def _example_section(render: Callable[[], list[str]]) -> str:
    """The adapter's example as a docstring section, as the adapter's help writes it but
    titled with the framework ("" if the core has no example in the fixed form)."""
    sections = _help._example_section(render)
    title = f"Example ({ADAPTERS[EXAMPLE_ADAPTER]}):"
    return "\n\n".join(sections).replace("Example:", title, 1)


def _reference_links(name: str) -> str:
    links = " · ".join(f"[{title}](../reference/{adapter}.md#{name})"
                       for adapter, title in ADAPTERS.items())
    return f"In the API reference (each adapter's argument order and example): {links}."


def loss_markdown(doc: str, example: Callable[[], list[str]], name: str) -> str:
    """A core docstring as Markdown, its example in the :data:`EXAMPLE_ADAPTER` form."""
    text = _EXAMPLE.split(doc, maxsplit=1)[0].rstrip()
    section = _example_section(example)
    return to_markdown(text + ("\n\n" + section if section else "")) + "\n" + _reference_links(name)


def render(family: str, specs: list[LossSpec]) -> str:
    module = importlib.import_module(f"multiloss.core.{family}")
    lines = [f"# {family.replace('_', ' ').capitalize()}", ""]
    lines += [to_markdown(inspect.getdoc(module) or ""), ""]
    lines += ["| loss | `reduction=\"none\"` gives | class form |", "|---|---|---|"]
    for spec in specs:
        lines.append(
            f"| [`{spec.name}`](#{spec.name}) | {spec.kind.replace('_', ' ')} | "
            f"{'`' + spec.class_name + '`' if spec.class_name else '—'} |"
        )
    lines.append("")
    for spec in specs:
        core_sig = public_signature(spec, spec.arguments, {})
        keras_sig = public_signature(spec, spec.keras_order, KERAS_DEFAULTS)
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
        example = _function_example(spec)
        lines += ["```", "", loss_markdown(spec.doc, example, spec.name), ""]
    for layer in LAYERS.get(family, ()):
        lines += [
            f"## {layer.__name__}",
            "",
            "```python",
            f"multiloss.keras.{layer.__name__}{_plain_signature(layer.__init__)}",
            "```",
            "",
            to_markdown(inspect.getdoc(layer) or ""),
            f"In the API reference: [Keras](../reference/keras.md#{layer.__name__}).",
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"


def _function_example(spec: LossSpec) -> Callable[[], list[str]]:
    return lambda: _help.function_example(spec, EXAMPLE_ADAPTER, spec.arguments, {})


def _stateful_families() -> dict[str, list[StatefulSpec]]:
    families: dict[str, list[StatefulSpec]] = {}
    for spec in sorted(stateful_registry().values(), key=lambda s: s.class_name):
        families.setdefault(spec.step.__module__.rsplit(".", 1)[-1], []).append(spec)
    return families


def _stateful_call(spec: StatefulSpec) -> str:
    """The ``Call:`` paragraph of the family page: each adapter's call form (grouped),
    then what the core says the call takes and gives."""
    forms: dict[str, list[str]] = {}
    for adapter, title in ADAPTERS.items():
        forms.setdefault(_help.stateful_call(spec, adapter), []).append(title)
    calls = "; ".join(f"``{form}`` ({', '.join(titles)})" for form, titles in forms.items())
    what = _help.stateful_call_text(spec)
    return f"Call: {calls}" + (f", {what}" if what else ".")


def render_stateful(specs: list[StatefulSpec]) -> str:
    lines = []
    for spec in specs:
        state = ", ".join(
            f"{v.name} ({'trainable' if v.trainable else 'state'})" for v in spec.state
        )
        summary, _, rest = _help.without_call(spec.doc).partition("\n\n")
        doc = f"{summary}\n\n{_stateful_call(spec)}\n\n{rest}"
        example = lambda spec=spec: _help.stateful_example(spec, EXAMPLE_ADAPTER)  # noqa: E731
        lines += [
            f"## {spec.class_name}",
            "",
            "```python",
            f"multiloss.keras.{spec.class_name}{spec.signature()}       # keras.layers.Layer",
            f"multiloss.torch.{spec.class_name}{spec.signature()}       # nn.Module",
            f"multiloss.tensorflow.{spec.class_name}{spec.signature()}  # tf.Module",
            f"multiloss.jax.{spec.class_name}{spec.signature()}         # .init() / .apply(state, ...)",
            f"# holds {state}",
            "```",
            "",
            loss_markdown(doc, example, spec.class_name),
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

"""MkDocs hook: the API reference, one page per adapter, written at build time from the
live adapter modules.

The adapters build their functions and classes lazily from the core registry (module
``__getattr__``; ``__all__`` lists them), so nothing in their source names a loss for a
static reader. This hook imports each adapter, walks ``__all__`` and writes
``reference/<adapter>.md`` into the build (never into docs/): every public function and
class with its signature in that adapter's argument order and its docstring. Nothing is
written by hand, so the reference cannot go stale.

    python docs/hooks/api_reference.py torch   # print one page (to read it, or debug)
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))  # the checkout's multiloss, not an installed one

from multiloss import _help  # noqa: E402


def _sibling(name: str):
    """``docs/hooks/<name>.py``, loaded from its file under a private module name (not the
    generic ``docstrings``, which another package could own)."""
    spec = importlib.util.spec_from_file_location(f"_multiloss_docs_{name}", HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_docstrings = _sibling("docstrings")
rst_blocks, to_markdown = _docstrings.rst_blocks, _docstrings.to_markdown

TITLES = _help.TITLES
#: Import order matters: torch before TensorFlow (the other order can crash).
ADAPTERS = tuple(TITLES)


def _load(adapter: str):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for name in ADAPTERS[: ADAPTERS.index(adapter) + 1]:
        module = importlib.import_module(f"multiloss.{name}")
    return module


#: Base classes as users spell them.
BASES = {
    "torch.nn.modules.module.Module": "torch.nn.Module",
    "keras.src.losses.loss.Loss": "keras.losses.Loss",
    "keras.src.layers.layer.Layer": "keras.layers.Layer",
    "tensorflow.python.module.module.Module": "tf.Module",
}
_SENTENCE_END = re.compile(r"(?<!\bal)(?<!e\.g)(?<!i\.e)(?<!\bvs)\.\s+(?=[A-Z(])")


def _default(value) -> str:
    if inspect.isclass(value) or inspect.isroutine(value):
        return getattr(value, "__name__", repr(value))
    return repr(value)


def _signature(obj, drop_self: bool = False) -> str:
    """``obj``'s signature as a user writes the call: no annotations, plain defaults."""
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return "(...)"
    parts, star_done = [], False
    for param in signature.parameters.values():
        if drop_self and param.name == "self":
            continue
        if param.kind is param.KEYWORD_ONLY and not star_done:
            parts.append("*")
        star_done = star_done or param.kind in (param.VAR_POSITIONAL, param.KEYWORD_ONLY)
        prefix = {param.VAR_POSITIONAL: "*", param.VAR_KEYWORD: "**"}.get(param.kind, "")
        default = "" if param.default is param.empty else f"={_default(param.default)}"
        parts.append(f"{prefix}{param.name}{default}")
        if param.kind is param.POSITIONAL_ONLY and not any(
            p.kind is p.POSITIONAL_ONLY for p in list(signature.parameters.values())[
                list(signature.parameters).index(param.name) + 1:]
        ):
            parts.append("/")
    return f"({', '.join(parts)})"


def _docstring(obj, qualified: str) -> str:
    """``obj``'s docstring without the signature line the adapters put first."""
    doc = inspect.getdoc(obj) or ""
    first, _, rest = doc.partition("\n\n")
    return rest if first.startswith(qualified + "(") else doc


def _summary(doc: str) -> str:
    """The first sentence of a docstring, on one line, for the index table."""
    paragraph = " ".join(doc.strip().split("\n\n", 1)[0].split())
    sentence = _SENTENCE_END.split(paragraph, maxsplit=1)[0].rstrip(".")
    return rst_blocks(sentence).replace("|", "\\|") + "."


def _kind(obj) -> str:
    if inspect.isclass(obj):
        bases = [b for b in obj.__mro__[1:]
                 if b is not object and not b.__module__.startswith("multiloss")]
        if not bases:
            return "class"
        base = f"{bases[0].__module__}.{bases[0].__qualname__}"
        return f"class ({BASES.get(base, base)})"
    return "function"


def _methods(cls, qualified: str) -> list[str]:
    """The public methods a class defines itself (the JAX objects' ``init`` / ``apply``)."""
    lines: list[str] = []
    for name, member in vars(cls).items():
        if name.startswith("_") or not callable(member) or not inspect.getdoc(member):
            continue
        lines += [f"`{qualified}.{name}{_signature(member, drop_self=True)}`", "",
                  to_markdown(inspect.getdoc(member)), ""]
    return lines


def render(adapter: str) -> str:
    """The Markdown reference page of ``multiloss.<adapter>``."""
    module = _load(adapter)
    prefix = f"multiloss.{adapter}"
    names = list(module.__all__)
    objects = {name: getattr(module, name) for name in names}
    aliases = {name: obj.__name__ for name, obj in objects.items()
               if inspect.isclass(obj) and obj.__name__ != name}
    functions = [n for n in names if n not in aliases and not inspect.isclass(objects[n])]
    classes = [n for n in names if n not in aliases and inspect.isclass(objects[n])]

    lines = [f"# `{prefix}` — {TITLES[adapter]}", "",
             to_markdown(inspect.getdoc(module) or ""), "",
             f"Every public name of `{prefix}` ({len(names)}), generated from the live module "
             "when the site is built.", "",
             "| name | kind | summary |", "|---|---|---|"]
    for name in sorted(names, key=str.lower):
        obj = objects[name]
        if name in aliases:
            lines.append(f"| [`{name}`](#{aliases[name]}) | class | "
                         f"Another name for [`{aliases[name]}`](#{aliases[name]}). |")
            continue
        lines.append(f"| [`{name}`](#{name}) | {_kind(obj)} | "
                     f"{_summary(_docstring(obj, f'{prefix}.{name}'))} |")
    for title, group in (("Functions", functions), ("Classes", classes)):
        if not group:
            continue
        lines += ["", f"## {title}", ""]
        for name in group:
            obj = objects[name]
            qualified = f"{prefix}.{name}"
            lines += [f"### `{name}` {{#{name}}}", "", "```python",
                      f"{qualified}{_signature(obj)}", "```", "",
                      to_markdown(_docstring(obj, qualified)), ""]
            if inspect.isclass(obj):
                lines += _methods(obj, qualified)
    return "\n".join(lines).rstrip() + "\n"


def pages() -> dict[str, str]:
    """``{"reference/<adapter>.md": markdown}`` for every adapter."""
    return {f"reference/{adapter}.md": render(adapter) for adapter in ADAPTERS}


def on_files(files, config):
    """MkDocs: add the generated pages to the build (the nav lists them)."""
    from mkdocs.structure.files import File

    for path, content in pages().items():
        files.append(File.generated(config, path, content=content))
    return files


if __name__ == "__main__":
    print(render(sys.argv[1] if len(sys.argv) > 1 else "torch"))

"""Docstrings written for each adapter, from the core docstrings.

A core docstring (Google style) holds, in this order: the summary, formula and prose;
``Args:``; ``Returns:``; ``References:`` (the papers and the peer calls that give the
same numbers); ``Example:``. Its example is a doctest in one fixed form, the
framework-neutral description every adapter's example is written from::

    >>> import numpy as np
    >>> from multiloss.core.ops import get_ops
    >>> y_pred = np.array([[2.0, -1.0], [0.5, 3.0]], np.float32)
    >>> y_true = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    >>> loss = sigmoid_focal_loss(get_ops("jax"), y_pred, y_true, reduction="none")
    >>> np.asarray(loss, np.float64).round(6).tolist()
    [[0.000451, 0.016994], [0.283059, 2.7e-05]]

Imports, then statements defining the inputs (``np.array(<literal>[, np.float32])``
anywhere in them becomes the framework's tensor), then one call of the core function
with ``get_ops(...)`` first and the tensors positionally in the core order, then the
shown value ``np.asarray(<result>, np.float64).round(<n>).tolist()`` and its output.
A stateful step is called as ``step(get_ops(...), state, *inputs, **config)`` with the
state built by an earlier statement (adapters build it themselves), and the shown
value is its output. A stateful step's docstring may say how its object is called in a
paragraph ``Call: ``<form>`` <inputs>; returns <output>.``: the form is the core's and
wrong for JAX, so each adapter writes its own (:func:`stateful_call`) and keeps the rest.
Each adapter's docstring lists the Args in its own argument order and carries this
example rewritten for its framework (see :data:`FRAMEWORKS`).
"""

from __future__ import annotations

import ast
import dataclasses
import doctest
import functools
import inspect
import re
import textwrap
from collections.abc import Callable
from typing import Any

from multiloss.core.registry import LossSpec, StatefulSpec

SECTIONS = ("Args", "Returns", "References", "Example")
_HEADER = re.compile(r"^(" + "|".join(SECTIONS) + r"):\s*$")
_ENTRY = re.compile(r"^(\w+(?:, \w+)*)(?: \(([^)]*)\))?:(?: (.*))?$")
_SHOWN = re.compile(r"^np\.asarray\((.+), np\.float64\)\.round\((\d+)\)\.tolist\(\)$")
#: A stateful step's call paragraph: ``Call: ``form`` what it takes; returns what``.
_CALL = re.compile(r"^Call: ``[^`]*``\s*(.*)$", re.DOTALL)


@dataclasses.dataclass(frozen=True)
class CoreDoc:
    """A core docstring split into its parts (sections without their header)."""

    body: str  # without the ``Call:`` paragraph
    call: str  # that paragraph less its call form: ``with T scalar losses; returns ...``
    args: dict[str, str]  # name -> description (continuation lines indented by 4)
    arg_types: dict[str, str]  # name -> the type the core gives, ``name (type): ...``
    returns: str
    references: str
    example: str


@dataclasses.dataclass(frozen=True)
class ExampleSpec:
    """The framework-neutral example: setup statements, one call, the value shown."""

    setup: tuple[str, ...]  # statements defining the inputs (NumPy arrays, lists)
    function: str
    args: tuple[str, ...]  # source of each positional argument after ops (and state)
    kwargs: tuple[tuple[str, str], ...]  # (name, source)
    result: str  # the variable the call's value is given to
    shown: str  # the expression shown (``loss``, ``loss[1]``)
    decimals: int
    want: str


def _dedent(lines: list[str]) -> list[str]:
    return [line[4:] if line.startswith("    ") else line.strip() for line in lines]


def _strip_blank(lines: list[str]) -> str:
    return "\n".join(lines).strip("\n")


@functools.cache
def parse_doc(doc: str) -> CoreDoc:
    """Split a core docstring at its ``Args:``/``Returns:``/``References:``/``Example:``."""
    parts: dict[str, list[str]] = {"body": []}
    current = "body"
    for line in doc.splitlines():
        header = _HEADER.match(line)
        if header:
            current = header.group(1)
            if current in parts:
                raise ValueError(f"a docstring has two {current}: sections")
            parts[current] = []
        else:
            parts[current].append(line)
    sections = {name: _dedent(parts.get(name, [])) for name in SECTIONS}
    args, arg_types = _parse_args(sections["Args"])
    body, call = _split_call(_strip_blank(parts["body"]))
    return CoreDoc(
        body=body,
        call=call,
        args=args,
        arg_types=arg_types,
        returns=_strip_blank(sections["Returns"]),
        references=_strip_blank(sections["References"]),
        example=_strip_blank(sections["Example"]),
    )


def _split_call(body: str) -> tuple[str, str]:
    """``(body without its Call: paragraph, that paragraph after the call form)``."""
    paragraphs = body.split("\n\n")
    calls = [i for i, text in enumerate(paragraphs) if _CALL.match(text)]
    if not calls:
        return body, ""
    if len(calls) > 1:
        raise ValueError("a docstring has two Call: paragraphs")
    call = _CALL.match(paragraphs.pop(calls[0])).group(1)
    return "\n\n".join(paragraphs), " ".join(call.split())


def _parse_args(lines: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """``({name: description}, {name: type})`` of an ``Args:`` section."""
    entries: dict[str, list[str]] = {}
    types: dict[str, str] = {}
    name = None
    for line in lines:
        entry = None if line[:1] in (" ", "") else _ENTRY.match(line)
        if entry:  # ``name: text``, or ``a, b: text`` shared by several arguments
            names = entry.group(1).split(", ")
            name = names[0]
            text = [entry.group(3) or ""]
            for each in names:
                entries[each] = text
                if entry.group(2):
                    types[each] = entry.group(2)
        elif name is not None and line.strip():
            entries[name].append(line)
        elif line.strip():
            raise ValueError(f"Args: a line outside any entry: {line!r}")
    return {name: "\n".join(text).strip() for name, text in entries.items()}, types


# --- the example ----------------------------------------------------------------------


def _is_np_array(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "array"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "np"
    )


def _core_call(node: ast.AST) -> ast.Call | None:
    """``name(get_ops(...), ...)``: the call of the core function, if ``node`` is one."""
    if not isinstance(node, ast.Call) or not node.args:
        return None
    first = node.args[0]
    if isinstance(first, ast.Call) and isinstance(first.func, ast.Name):
        if first.func.id == "get_ops" and isinstance(node.func, ast.Name):
            return node
    return None


@functools.cache
def parse_example(text: str, *, stateful: bool = False) -> ExampleSpec:
    """The :class:`ExampleSpec` of a core ``Example:`` section (raises if not in form)."""
    examples = doctest.DocTestParser().get_examples(text)
    if not examples or not examples[-1].want.strip():
        raise ValueError("the example must end with the shown value and its output")
    *statements, last = examples
    match = _SHOWN.match(last.source.strip())
    if not match:
        raise ValueError(
            "the example's last line must be np.asarray(<result>, np.float64)"
            f".round(<n>).tolist(), got {last.source.strip()!r}"
        )
    setup, call = [], None
    for example in statements:
        source = example.source.strip()
        tree = ast.parse(source)
        node = tree.body[0]
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        found = isinstance(node, ast.Assign) and _core_call(node.value)
        if found:
            if call is not None:
                raise ValueError("the example calls the core function more than once")
            call = (node, found, source)
        else:
            setup.append(source)
    if call is None:
        raise ValueError("the example has no call `name(get_ops(...), ...)`")
    node, found, source = call
    target = node.targets[0]
    names = [target] if isinstance(target, ast.Name) else getattr(target, "elts", [])
    if not names or not isinstance(names[0], ast.Name):
        raise ValueError("the core call's value must be given to a name")
    skip = 2 if stateful else 1
    if stateful:
        state = ast.get_source_segment(source, found.args[1])
        setup = [s for s in setup if not re.match(rf"{re.escape(state)}\s*=", s)]
    return ExampleSpec(
        setup=tuple(setup),
        function=found.func.id,
        args=tuple(ast.get_source_segment(source, a) for a in found.args[skip:]),
        kwargs=tuple((k.arg, ast.get_source_segment(source, k.value)) for k in found.keywords),
        result=names[0].id,
        shown=match.group(1),
        decimals=int(match.group(2)),
        want=last.want.rstrip("\n"),
    )


# --- the frameworks --------------------------------------------------------------------


def _floats(value: Any) -> Any:
    return [_floats(v) for v in value] if isinstance(value, (list, tuple)) else float(value)


@dataclasses.dataclass(frozen=True)
class Framework:
    """How one adapter's docstrings write tensors, results and class forms."""

    title: str  # the framework's name as its users spell it (docs headings)
    imports: tuple[str, ...]
    tensor_type: str
    tensor: Callable[[str, bool], str]  # (literal, float32) -> constructor call
    shown: Callable[[str, int], str]  # (expression, decimals) -> shown as float64 list
    loss_class_form: str  # what a loss' class form is ("" if none)
    stateful_form: str  # what a stateful class is
    stateful_call: str  # how a stateful object is called, ``{inputs}`` its inputs
    stateful_apply: bool = False  # JAX: pure ``apply(init(), *inputs)``

    def array(self, literal_source: str, dtype_source: str | None) -> str:
        if dtype_source is None:
            return self.tensor(literal_source, False)
        if dtype_source not in ("np.float32", '"float32"'):
            raise ValueError(f"example arrays are float32 or untyped, got {dtype_source}")
        return self.tensor(repr(_floats(ast.literal_eval(literal_source))), True)


FRAMEWORKS: dict[str, Framework] = {
    "torch": Framework(
        title="PyTorch",
        imports=("import torch", "import multiloss.torch as ml"),
        tensor_type="torch.Tensor",
        tensor=lambda literal, _: f"torch.tensor({literal})",
        shown=lambda expr, n: f"{expr}.double().round(decimals={n}).tolist()",
        loss_class_form="``torch.nn.Module``",
        stateful_form="a ``torch.nn.Module`` (trainable variables are ``nn.Parameter``\\ s, "
        "the others buffers updated by each call)",
        stateful_call="output = weighting({inputs})",
    ),
    "jax": Framework(
        title="JAX",
        imports=("import jax.numpy as jnp", "import numpy as np", "import multiloss.jax as ml"),
        tensor_type="jax.Array",
        tensor=lambda literal, _: f"jnp.array({literal})",
        shown=lambda expr, n: f"np.asarray({expr}, np.float64).round({n}).tolist()",
        loss_class_form="",
        stateful_form="a stateless object: ``state = weighting.init()`` gives its variables "
        "(a dict of arrays) and ``apply`` is a pure function of them that returns the updated "
        "ones",
        stateful_call="output, state = weighting.apply(state, {inputs})",
        stateful_apply=True,
    ),
    "tensorflow": Framework(
        title="TensorFlow",
        imports=("import tensorflow as tf", "import multiloss.tensorflow as ml"),
        tensor_type="tf.Tensor",
        tensor=lambda literal, _: f"tf.constant({literal})",
        shown=lambda expr, n: f"tf.cast({expr}, tf.float64).numpy().round({n}).tolist()",
        loss_class_form="",
        stateful_form="a ``tf.Module`` holding ``tf.Variable``\\ s (trainable or not)",
        stateful_call="output = weighting({inputs})",
    ),
    "keras": Framework(
        title="Keras",
        imports=("import numpy as np", "import keras", "import multiloss.keras as ml"),
        tensor_type="tensor or NumPy array",
        tensor=lambda literal, f32: f'np.array({literal}, "float32")' if f32 else f"np.array({literal})",
        shown=lambda expr, n: f'keras.ops.convert_to_numpy({expr}).astype("float64").round({n}).tolist()',
        loss_class_form="``keras.losses.Loss``",
        stateful_form="a ``keras.layers.Layer`` whose variables are Keras weights (trainable "
        "or not), saved with the model",
        stateful_call="output = weighting({inputs})",
    ),
}
#: Each adapter's framework as its users spell it (docs headings), in import order.
TITLES = {name: framework.title for name, framework in FRAMEWORKS.items()}

#: The Keras ``Loss`` constructor's own parameters (after the loss parameters).
KERAS_LOSS_ARGS = {
    "reduction": 'Keras\' reduction of the unreduced loss: ``"sum_over_batch_size"``\n'
    '(default), ``"sum"``, ``"mean"``, ``"mean_with_sample_weight"`` or ``"none"``.',
    "name": "the loss' name (default: the function's name).",
    "dtype": "the dtype of the computation and of the result (default: Keras'\nfloat type).",
}
#: Keras' reduction for each reduction of the functions (the same numbers).
KERAS_REDUCTIONS = {"none": '"none"', "sum": '"sum"', "mean": None}


def framework(adapter: str) -> Framework:
    return FRAMEWORKS[adapter]


def _convert(source: str, fw: Framework) -> str:
    """``source`` with every ``np.array(...)`` written as the framework's tensor."""
    tree = ast.parse(source)
    calls = [node for node in ast.walk(tree) if _is_np_array(node)]
    spans = []
    for node in calls:
        literal = ast.get_source_segment(source, node.args[0])
        dtype = ast.get_source_segment(source, node.args[1]) if len(node.args) > 1 else None
        start = _offset(source, node.lineno, node.col_offset)
        end = _offset(source, node.end_lineno, node.end_col_offset)
        spans.append((start, end, fw.array(literal, dtype)))
    for start, end, text in sorted(spans, reverse=True):
        source = source[:start] + text + source[end:]
    return source


def _offset(source: str, line: int, column: int) -> int:
    """The character offset of ``ast``'s (line, UTF-8 byte column) in ``source``."""
    lines = source.splitlines(keepends=True)
    return sum(len(text) for text in lines[: line - 1]) + len(
        lines[line - 1].encode()[:column].decode()
    )


def _doctest(statements: list[str]) -> list[str]:
    lines = []
    for statement in statements:
        first, *rest = statement.splitlines()
        lines.append(f">>> {first}")
        lines += [f"... {line}" for line in rest]
    return lines


def _call(name: str, args: list[str], kwargs: list[tuple[str, str]]) -> str:
    return f"{name}({', '.join(args + [f'{k}={v}' for k, v in kwargs])})"


def _framework_lines(ex: ExampleSpec, fw: Framework, calls: list[str], result: str) -> list[str]:
    statements = [*fw.imports, *(_convert(s, fw) for s in ex.setup), *calls]
    shown = fw.shown(ex.shown.replace(ex.result, result, 1), ex.decimals)
    return [*_doctest(statements), f">>> {shown}", *ex.want.splitlines()]


def _converted(values: list[str] | tuple[str, ...], fw: Framework) -> list[str]:
    return [_convert(v, fw) for v in values]


def function_example(spec: LossSpec, adapter: str, order: tuple[str, ...], defaults: dict) -> list[str]:
    """The example of ``multiloss.<adapter>.<loss>``: the core example in that framework."""
    ex = parse_example(parse_doc(spec.doc).example)
    fw = framework(adapter)
    by_name = dict(zip(spec.arguments, _converted(ex.args, fw), strict=True))
    kwargs = [(k, _convert(v, fw)) for k, v in ex.kwargs]
    given = {k for k, _ in kwargs}
    # an adapter default that differs from the core one (Keras' reduction="none") is
    # written out, so that every adapter computes what the core example computes
    kwargs += [(k, repr(spec.params[k]).replace("'", '"')) for k in defaults
               if k not in given and defaults[k] != spec.params[k]]
    call = _call(f"ml.{spec.name}", [by_name[n] for n in order], kwargs)
    return _framework_lines(ex, fw, [f"{ex.result} = {call}"], ex.result)


def _split_kwargs(spec: LossSpec, ex: ExampleSpec, fw: Framework) -> tuple[list, list]:
    config = [(k, _convert(v, fw)) for k, v in ex.kwargs if k not in spec.call_params]
    per_call = [(k, _convert(v, fw)) for k, v in ex.kwargs if k in spec.call_params]
    return config, per_call


def loss_class_example(spec: LossSpec, adapter: str) -> list[str]:
    """The example of a loss' class form: constructed with the example's parameters,
    called with its tensors (Keras: ``(y_true, y_pred)``, Keras' reduction)."""
    ex = parse_example(parse_doc(spec.doc).example)
    fw = framework(adapter)
    by_name = dict(zip(spec.arguments, _converted(ex.args, fw), strict=True))
    config, per_call = _split_kwargs(spec, ex, fw)
    if adapter != "keras":
        construct = _call(f"ml.{spec.class_name}", [], config)
        call = _call("loss_fn", [by_name[n] for n in spec.arguments], per_call)
        return _framework_lines(ex, fw, [f"loss_fn = {construct}", f"{ex.result} = {call}"], ex.result)
    if any(k == "where" for k, _ in per_call):
        raise ValueError(f"{spec.name}: a Keras Loss takes no `where`; the example passes one")
    reduction = dict(config).pop("reduction", '"mean"').strip("\"'")
    config = [(k, v) for k, v in config if k != "reduction"]
    if KERAS_REDUCTIONS[reduction] is not None:
        config.append(("reduction", KERAS_REDUCTIONS[reduction]))
    if spec.keras_packed:
        packed = ", ".join(by_name[n] for n in spec.keras_packed)
        y_pred = f"np.concatenate([{packed}], axis=-1)"
        first = by_name[spec.keras_packed[0]]
        y_true = by_name["y_true"] if "y_true" in by_name else f"np.zeros(len({first}))"
        tensors = [y_true, y_pred]
    else:
        tensors = [by_name[n] for n in spec.keras_order if n not in spec.keras_optional]
    construct = _call(f"ml.{spec.class_name}", [], config)
    call = _call("loss_fn", tensors, per_call)
    return _framework_lines(ex, fw, [f"loss_fn = {construct}", f"{ex.result} = {call}"], ex.result)


def stateful_example(spec: StatefulSpec, adapter: str) -> list[str]:
    """The example of a stateful class: built with the example's config, called once."""
    ex = parse_example(parse_doc(spec.doc).example, stateful=True)
    fw = framework(adapter)
    construct = f"weighting = {_call(f'ml.{spec.class_name}', [], list(ex.kwargs))}"
    inputs = _converted(ex.args, fw)
    if fw.stateful_apply:
        call = f"{ex.result}, state = {_call('weighting.apply', ['weighting.init()', *inputs], [])}"
    else:
        call = f"{ex.result} = {_call('weighting', inputs, [])}"
    return _framework_lines(ex, fw, [construct, call], ex.result)


# --- the docstrings --------------------------------------------------------------------


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line if line.strip() else "" for line in text.splitlines())


def _args_section(names: list[str], descriptions: dict[str, str], types: dict[str, str]) -> str:
    entries = []
    for name in names:
        kind = f" ({types[name]})" if name in types else ""
        first, *rest = (descriptions.get(name) or "").splitlines() or [""]
        entries.append(f"    {name}{kind}: {first}".rstrip())
        entries += [_indent(line, "    ") for line in rest]
    return "Args:\n" + "\n".join(entries)


def _sections(*parts: tuple[str, str]) -> list[str]:
    return [f"{title}:\n{_indent(text)}" for title, text in parts if text]


def _example_section(render: Callable[[], list[str]]) -> list[str]:
    try:
        lines = render()
    except (ValueError, SyntaxError, KeyError):  # no example in the fixed form: none shown
        return []
    return ["Example:\n" + _indent("\n".join(lines))]


def _tensor_types(spec: LossSpec, doc: CoreDoc, fw: Framework) -> dict[str, str]:
    """The tensors typed as the framework's tensor (unless the core types them)."""
    types = {name: fw.tensor_type for name in spec.tensors}
    return {**types, **doc.arg_types}


def _or_core_text(render: Callable[..., str]) -> Callable[..., str]:
    """``render``, or the core docstring as it is where that is not in the expected form
    (a loss a user registers: its docstring must not break the adapters; the docstrings
    of multiloss' own losses are held to the form by tests/test_help.py)."""

    @functools.wraps(render)
    def rendered(spec: Any, adapter: str, *args: Any) -> str:
        try:
            return render(spec, adapter, *args)
        except ValueError:
            head = args[0] if render.__name__ == "function_doc" else ""
            return f"{head}\n\n{spec.doc}" if head else spec.doc

    return rendered


@_or_core_text
def function_doc(
    spec: LossSpec, adapter: str, signature_line: str, order: tuple[str, ...], defaults: dict
) -> str:
    """``multiloss.<adapter>.<loss>.__doc__``: its signature, the core text, Args in the
    adapter's order, Returns, References and the example in that framework."""
    doc = parse_doc(spec.doc)
    fw = framework(adapter)
    names = [*order, *spec.params]
    parts = [signature_line, doc.body, _args_section(names, doc.args, _tensor_types(spec, doc, fw))]
    parts += _sections(("Returns", doc.returns), ("References", doc.references))
    parts += _example_section(lambda: function_example(spec, adapter, order, defaults))
    return "\n\n".join(p for p in parts if p)


def _keras_class_note(spec: LossSpec) -> str:
    note = ""
    if spec.keras_packed:
        note = (
            f"Keras passes a loss only ``(y_true, y_pred)``, so this class's ``y_pred`` is "
            f"the function's {' and '.join(f'``{n}``' for n in spec.keras_packed)} in equal "
            f"parts along the last axis: ``keras.ops.concatenate([{', '.join(spec.keras_packed)}]"
            f", axis=-1)``."
        )
        if "y_true" not in spec.tensors:
            note += " The targets Keras passes are not used (give ``fit`` zeros)."
    if spec.keras_optional:
        optional = " and ".join(f"``{n}=None``" for n in spec.keras_optional)
        note += (
            f"{' ' if note else ''}Keras passes a loss only ``(y_true, y_pred)``, so this "
            f"class calls the function with {optional}."
        )
    return note


@_or_core_text
def loss_class_doc(spec: LossSpec, adapter: str, cls: type) -> str:
    """The docstring of a loss' class form in ``adapter`` (torch ``nn.Module``, Keras
    ``Loss``): how it is built and called, its constructor's Args, Returns, References
    and an example."""
    doc = parse_doc(spec.doc)
    fw = framework(adapter)
    init = inspect.signature(cls)
    descriptions = {**doc.args}
    if adapter == "keras":
        descriptions.update(KERAS_LOSS_ARGS)
        tensors = ", ".join(
            ("y_true", "y_pred") if spec.keras_packed
            else [n for n in spec.keras_order if n not in spec.keras_optional]
        )
        call = f"loss_fn({tensors}, sample_weight=None)"
        form = (
            f"{fw.loss_class_form} form of :func:`multiloss.{adapter}.{spec.name}`: "
            f"``loss_fn = {spec.class_name}(...)``, then ``{call}`` "
            f"(``reduction`` and ``sample_weight`` are Keras' own)."
        )
        note = _keras_class_note(spec)
    else:
        per_call = "".join(f", {n}=None" for n in spec.call_params)
        call = f"loss_fn({', '.join(spec.arguments)}{per_call})"
        form = (
            f"{fw.loss_class_form} form of :func:`multiloss.{adapter}.{spec.name}`: "
            f"``loss_fn = {spec.class_name}(...)`` takes the loss parameters, "
            f"``{call}`` the tensors"
            + (" (and the per-call weights)." if spec.call_params else ".")
        )
        note = ""
    parts = [form, note, doc.body, _args_section(list(init.parameters), descriptions, doc.arg_types)]
    parts += _sections(("Returns", doc.returns), ("References", doc.references))
    parts += _example_section(lambda: loss_class_example(spec, adapter))
    return "\n\n".join(p for p in parts if p)


def stateful_call(spec: StatefulSpec, adapter: str) -> str:
    """How ``adapter``'s form of a stateful class is called: ``output = weighting(losses)``
    (JAX: ``output, state = weighting.apply(state, losses)``)."""
    return framework(adapter).stateful_call.format(inputs=", ".join(spec.inputs))


def stateful_call_text(spec: StatefulSpec) -> str:
    """What the core's ``Call:`` paragraph says the call takes and gives, after the call
    form: ``with T scalar losses (...); ``output`` is the scalar total.`` ("" if none)."""
    return re.sub(r"(^|;\s*)returns ", r"\1``output`` is ", parse_doc(spec.doc).call)


def without_call(doc: str) -> str:
    """A core docstring without its ``Call:`` paragraph (each adapter writes its own)."""
    return _split_call(doc)[0]


def stateful_call_paragraph(spec: StatefulSpec, adapter: str) -> str:
    """The ``Call:`` paragraph of a stateful class in ``adapter``: its call form, then
    :func:`stateful_call_text`."""
    what = stateful_call_text(spec)
    return _fill(f"Call: ``{stateful_call(spec, adapter)}``" + (f" {what}" if what else "."))


def _fill(text: str) -> str:
    """One paragraph wrapped at 88 columns, never inside a word or a literal's name."""
    return textwrap.fill(text, 88, break_long_words=False, break_on_hyphens=False)


@_or_core_text
def stateful_doc(spec: StatefulSpec, adapter: str, cls: type) -> str:
    """The docstring of a stateful class in ``adapter``: the core summary, what the class
    is and how it is called there, the rest of the core text, Args, Returns, References
    and the example in that framework."""
    doc = parse_doc(spec.doc)
    fw = framework(adapter)
    summary, _, rest = doc.body.partition("\n\n")
    form = _fill(
        f"``multiloss.{adapter}.{spec.class_name}{inspect.signature(cls)}``: {fw.stateful_form}."
    )
    call = stateful_call_paragraph(spec, adapter)
    parts = [summary, form, call, rest, _args_section(list(inspect.signature(cls).parameters), doc.args, doc.arg_types)]
    parts += _sections(("Returns", doc.returns), ("References", doc.references))
    parts += _example_section(lambda: stateful_example(spec, adapter))
    return "\n\n".join(p for p in parts if p)

"""Each adapter's help is written for it: ``help(multiloss.<adapter>.<loss>)`` lists the
Args in that adapter's argument order (the order ``inspect.signature`` shows), has one
References section (papers and peer calls), mentions no internal seed, and its Example
runs as a doctest in that framework. Functions and classes (loss classes and the
stateful multi-task classes) alike.

The torch, jax and tensorflow adapters are checked together (``cross_framework``); the
Keras adapter on whatever backend the session runs.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import re

import pytest

from multiloss import core

SECTION = re.compile(r"^(\w[\w ]*):$", re.MULTILINE)
ENTRY = re.compile(r"^    (\w+)(?: \([^)]*\))?:")
INTERNAL_SEED = re.compile(r"\bseed \d+", re.IGNORECASE)
OTHER_ADAPTERS = ("torch", "jax", "tensorflow")


def documented(module_name: str) -> list[tuple[str, object]]:
    """(qualified name, object) of every registered function and class of an adapter."""
    module = importlib.import_module(f"multiloss.{module_name}")
    names = sorted(core.registry())
    names += sorted({s.class_name for s in core.registry().values()} & set(module.__all__))
    names += sorted(core.stateful_registry())
    return [(f"multiloss.{module_name}.{name}", getattr(module, name)) for name in names]


def sections(doc: str) -> list[str]:
    return SECTION.findall(doc)


def section_text(doc: str, title: str) -> str:
    start = doc.index(f"\n{title}:\n") + len(title) + 3
    follow = SECTION.search(doc, start)
    return doc[start : follow.start() if follow else None]


def args_listed(doc: str) -> list[str]:
    return [m.group(1) for line in section_text(doc, "Args").splitlines()
            if (m := ENTRY.match(line))]


def run_example(name: str, doc: str) -> tuple[int, str]:
    """(examples run, report of the failures) of the docstring's doctest."""
    test = doctest.DocTestParser().get_doctest(doc, {}, name, None, 0)
    output: list[str] = []
    runner = doctest.DocTestRunner(verbose=False)
    result = runner.run(test, out=output.append, clear_globs=True)
    return result.attempted, "".join(output)


def check(name: str, obj: object) -> None:
    doc = obj.__doc__ or ""
    found = sections(doc)
    for title in ("Args", "Returns", "References", "Example"):
        assert found.count(title) == 1, f"{name}: {found.count(title)} {title} sections"
    assert found.index("Args") < found.index("Returns") < found.index("References")
    assert found[-1] == "Example", f"{name}: the Example comes last, got {found}"
    assert not INTERNAL_SEED.search(doc), f"{name}: mentions {INTERNAL_SEED.search(doc)[0]!r}"
    signature = inspect.signature(obj)
    assert args_listed(doc) == list(signature.parameters), f"{name}: Args not in call order"
    if inspect.isfunction(obj):
        assert doc.splitlines()[0] == f"{name}{signature}", name
    attempted, failures = run_example(name, doc)
    assert attempted >= 3 and not failures, f"{name}:\n{failures}"


@pytest.mark.cross_framework
@pytest.mark.parametrize("adapter", OTHER_ADAPTERS)
def test_help_of_torch_jax_tensorflow(adapter):
    for name, obj in documented(adapter):
        check(name, obj)


def test_help_of_keras():
    for name, obj in documented("keras"):
        check(name, obj)


def test_keras_args_put_y_true_first():
    import multiloss.keras as mk

    doc = mk.sigmoid_focal_loss.__doc__
    assert args_listed(doc)[:2] == ["y_true", "y_pred"]
    assert "ml.sigmoid_focal_loss(y_true, y_pred" in doc


def test_a_broken_example_fails_the_check():
    """The check runs the examples: a wrong output is reported."""
    import multiloss.torch as mt

    function = mt.sigmoid_focal_loss
    wrong = function.__doc__.replace("0.2831", "0.2832")
    assert wrong != function.__doc__
    attempted, failures = run_example("wrong", wrong)
    assert attempted and "0.2832" in failures


@pytest.mark.parametrize("adapter", ("jax", "keras"))
def test_stateful_classes_say_how_they_are_called_in_their_framework(adapter):
    """JAX's objects are called as ``output, state = obj.apply(state, ...)``, never in the
    ``weighting(losses)`` form the other adapters (and the core text) use."""
    if adapter == "jax":
        pytest.importorskip("jax")
    module = importlib.import_module(f"multiloss.{adapter}")
    for name, spec in core.stateful_registry().items():
        doc = getattr(module, name).__doc__
        inputs = ", ".join(spec.inputs)
        paragraph = " ".join(doc[doc.index("\nCall: ") :].split("\n\n")[0].split())
        if adapter == "jax":
            assert f"Call: ``output, state = weighting.apply(state, {inputs})``" in paragraph
            assert not re.search(r"\b(?:weighting|priority|dwa)\(", doc), name  # core's forms
            assert "weighting.apply(weighting.init(), " in doc, name  # the example
            assert "returns the scalar" not in paragraph, name
        else:
            assert f"Call: ``output = weighting({inputs})``" in paragraph, name
        assert doc.count("\nCall: ") == 1, f"{name}: the core's Call: paragraph is still there"


def test_a_user_loss_with_a_free_form_docstring_still_reaches_every_adapter():
    """A docstring the help renderer cannot read (a line outside any Args entry) gives
    the core text as it is: the loss stays usable, in ``dir``, star imports and help."""
    from multiloss.core.common import compute_dtype
    from multiloss.core.reduction import reduce

    @core.register(kind="elementwise")
    def free_form_error(ops, y_pred, y_true, *, where=None, sample_weight=None, reduction="mean"):
        """Absolute error, documented freely.

        Args:
        the tensors, then the usual where / sample_weight / reduction.
        """
        return reduce(ops, ops.abs(y_pred - y_true), reduction, compute_dtype(ops, y_pred)[1])

    try:
        import multiloss.torch as mt

        assert "documented freely" in mt.free_form_error.__doc__
        assert "documented freely" in mt.FreeFormError.__doc__
        namespace: dict = {}
        exec("from multiloss.torch import *", namespace)
        assert "free_form_error" in namespace
    finally:
        core.unregister("free_form_error")

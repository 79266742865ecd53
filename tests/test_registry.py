"""The adapters are generated from the core registry: a loss registered in a test is
callable in all four adapters (functions and classes) with no adapter edit; every
registered loss is listed, with its signature and docstring."""

from __future__ import annotations

import importlib
import inspect

import keras
import numpy as np
import pytest
from keras.src.saving import object_registration

from multiloss import core
from multiloss.core.common import as_float, compute_dtype
from multiloss.core.reduction import entries, reduce
from multiloss.verify import frameworks

ADAPTER_MODULES = {name: importlib.import_module(f"multiloss.{name}") for name in frameworks.ADAPTERS}
WITH_CLASSES = ("keras", "torch")


def _has_class(adapter: str, spec) -> bool:
    """torch has a module per loss with a class name; Keras a ``Loss`` per loss of two
    tensors or whose other tensors are packed into ``y_pred`` (gaussian_nll_loss)."""
    return bool(spec.class_name) and (adapter != "keras" or spec.keras_class_name is not None)


@pytest.fixture
def tiny_loss():
    """A throwaway loss, registered for one test and removed afterwards."""

    @core.register(kind="elementwise")
    def scaled_absolute_error(
        ops, y_pred, y_true, *, scale=2.0, where=None, sample_weight=None, reduction="mean"
    ):
        """Scaled absolute error ``scale * |y_pred - y_true|`` (a registry test loss)."""
        dtype, out_dtype = compute_dtype(ops, y_pred)
        chosen = entries(ops, where, sample_weight, tuple(y_pred.shape), dtype)
        diff = as_float(ops, chosen.hide(y_pred), dtype) - as_float(ops, chosen.hide(y_true), dtype)
        return reduce(ops, scale * ops.abs(diff), reduction, out_dtype, entries=chosen)

    yield core.get_spec("scaled_absolute_error")
    core.unregister("scaled_absolute_error")
    for key in [k for k in object_registration.GLOBAL_CUSTOM_OBJECTS if k.endswith(">ScaledAbsoluteError")]:
        cls = object_registration.GLOBAL_CUSTOM_OBJECTS.pop(key)
        object_registration.GLOBAL_CUSTOM_NAMES.pop(cls, None)


def test_a_new_loss_reaches_every_adapter_without_an_edit(tiny_loss, adapter):
    pred = np.array([[0.5, -1.0], [2.0, 0.0]], np.float32)
    true = np.array([[0.0, 1.0], [1.0, 0.25]], np.float32)
    want = 3.0 * np.abs(pred - true)
    for reduction, expected in (("none", want), ("mean", want.mean()), ("sum", want.sum())):
        got = adapter.call("scaled_absolute_error", pred, true, scale=3.0, reduction=reduction)
        np.testing.assert_allclose(got, expected, rtol=1e-6)
    _, (grad,) = adapter.value_and_grad("scaled_absolute_error", pred, true, scale=3.0, reduction="sum")
    np.testing.assert_allclose(grad, 3.0 * np.sign(pred - true), rtol=1e-6)
    assert "scaled_absolute_error" in adapter.module.__all__
    assert "scaled_absolute_error" in dir(adapter.module)

    if adapter.name in WITH_CLASSES:
        cls = adapter.module.ScaledAbsoluteError
        assert "ScaledAbsoluteError" in adapter.module.__all__
        loss = cls(scale=3.0)
        value = loss(adapter.tensor(true), adapter.tensor(pred)) if adapter.name == "keras" else loss(
            adapter.tensor(pred), adapter.tensor(true)
        )
        np.testing.assert_allclose(frameworks.to_numpy(value), want.mean(), rtol=1e-6)
    if adapter.name == "keras":
        revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
        assert type(revived) is cls and revived.get_config()["scale"] == 3.0


def test_unregistered_loss_leaves_the_adapters(adapter):
    @core.register(kind="elementwise")
    def short_lived(ops, y_pred, y_true, *, where=None, sample_weight=None, reduction="mean"):
        """A loss removed right away."""
        return reduce(ops, ops.abs(y_pred - y_true), reduction, compute_dtype(ops, y_pred)[1])

    assert "short_lived" in adapter.module.__all__
    function = adapter.module.short_lived
    # published as a plain module attribute: later accesses skip the module __getattr__
    assert vars(adapter.module)["short_lived"] is function
    names = ["short_lived"]
    if adapter.name in WITH_CLASSES:
        cls = adapter.module.ShortLived
        assert vars(adapter.module)["ShortLived"] is cls
        names.append("ShortLived")
    core.unregister("short_lived")
    assert "short_lived" not in adapter.module.__all__
    for name in names:
        assert name not in vars(adapter.module), f"{name} still published"
        with pytest.raises(AttributeError, match=name):
            getattr(adapter.module, name)


def test_published_names_are_the_adapters_objects_and_renamed_classes_stay_one(adapter):
    module = adapter.module
    namespace: dict = {}
    exec(f"from multiloss.{adapter.name} import *", namespace)
    function = module.cross_entropy
    assert namespace["cross_entropy"] is function is vars(module)["cross_entropy"]
    if adapter.name in WITH_CLASSES:
        alias = module.KlDivergence
        assert alias is module.KLDivergence is vars(module)["KlDivergence"]
        assert namespace["UncertaintyWeighting"] is vars(module)["UncertaintyWeighting"]


def test_register_refuses_bad_losses():
    with pytest.raises(ValueError, match="kind"):
        core.register(kind="pointwise")
    with pytest.raises(TypeError, match="ops"):

        @core.register(kind="elementwise")
        def no_ops(y_pred, y_true):
            """no ops argument"""

    with pytest.raises(ValueError, match=r"keras_packed \('y_pred',\) must name each tensor"):

        @core.register(kind="per_example", keras_packed=("y_pred",))
        def scale_left_out(ops, y_pred, y_true, scale):
            """scale is neither y_true nor packed into the Keras y_pred"""

    with pytest.raises(ValueError, match="cross_entropy"):

        @core.register(kind="per_example")
        def cross_entropy(ops, y_pred, y_true):
            """a second loss named cross_entropy"""

    with pytest.raises(TypeError, match=r"where, sample_weight.*missing \['where', 'sample_weight'\]"):

        @core.register(kind="per_example")
        def unmaskable(ops, y_pred, y_true, *, reduction="mean"):
            """a reduction without where= and sample_weight="""


@pytest.mark.parametrize("name", frameworks.ADAPTERS)
def test_dir_and_all_list_every_loss(name):
    module = ADAPTER_MODULES[name]
    listed_all, listed_dir = set(module.__all__), set(dir(module))
    for loss, spec in core.registry().items():
        assert loss in listed_all and loss in listed_dir, loss
        if spec.class_name and name in WITH_CLASSES and _has_class(name, spec):
            assert spec.class_name in listed_all and spec.class_name in listed_dir, spec.class_name
        elif spec.class_name and name == "keras":  # a Keras Loss takes (y_true, y_pred) only
            assert spec.class_name not in listed_all, spec.class_name
    for exported in module.__all__:
        getattr(module, exported)


@pytest.mark.parametrize("name", frameworks.ADAPTERS)
def test_function_signatures_and_docstrings(name):
    module = ADAPTER_MODULES[name]
    for loss, spec in core.registry().items():
        function = getattr(module, loss)
        parameters = list(inspect.signature(function).parameters.values())
        order = spec.keras_order if name == "keras" else spec.arguments
        assert [p.name for p in parameters[: len(order)]] == list(order), loss
        assert all(p.kind is p.POSITIONAL_OR_KEYWORD for p in parameters[: len(order)]), loss
        keywords = parameters[len(order):]
        assert [p.name for p in keywords] == list(spec.params), loss
        assert all(p.kind is p.KEYWORD_ONLY for p in keywords), loss
        for p in keywords:
            default = "none" if (name == "keras" and p.name == "reduction") else spec.params[p.name]
            assert p.default == default, (loss, p.name)
        assert function.__name__ == loss
        assert function.__module__ == f"multiloss.{name}"
        assert spec.doc and spec.doc.splitlines()[0] in function.__doc__, loss


def test_class_signatures_and_docstrings():
    for name in WITH_CLASSES:
        module = ADAPTER_MODULES[name]
        for loss, spec in core.registry().items():
            if not _has_class(name, spec):
                continue
            cls = getattr(module, spec.class_name)
            assert cls.__name__ == spec.class_name and cls.__module__ == f"multiloss.{name}"
            assert spec.doc.splitlines()[0] in cls.__doc__, (name, loss)
            parameters = inspect.signature(cls.__init__).parameters
            for param in spec.call_params:  # per call, not per instance
                assert param not in parameters, (name, loss, param)
            for param, default in spec.config_params.items():
                if not (name == "keras" and param == "reduction"):
                    assert parameters[param].default == default, (name, loss, param)


def test_unknown_keyword_raises_type_error_naming_it(adapter):
    pred = np.zeros((2, 3), np.float32)
    labels = np.array([0, 1])
    with pytest.raises(TypeError, match="gama"):
        adapter.fn("cross_entropy")(adapter.tensor(pred), adapter.tensor(labels), gama=2.0)
    with pytest.raises(TypeError, match="gama"):
        adapter.module.cross_entropy(adapter.tensor(pred), adapter.tensor(labels), gama=2.0)
    if adapter.name in WITH_CLASSES:
        with pytest.raises(TypeError, match="gama"):
            adapter.module.CrossEntropy(gama=2.0)


def test_keras_function_takes_keyword_tensors():
    mk = ADAPTER_MODULES["keras"]
    pred = np.array([[2.0, 0.5, 1.0]], np.float32)
    by_position = mk.cross_entropy(np.array([1]), pred)
    by_name = mk.cross_entropy(y_pred=pred, y_true=np.array([1]))
    np.testing.assert_allclose(frameworks.to_numpy(by_name), frameworks.to_numpy(by_position))
    np.testing.assert_allclose(frameworks.to_numpy(by_position), [1.9643688], rtol=1e-6)


def test_stateful_class_signatures():
    """``inspect.signature(cls)`` (which drops ``__init__``'s first parameter) shows every
    constructor parameter of a stateful class, required ones (``num_tasks``) included."""
    for name, module in ADAPTER_MODULES.items():
        for class_name, spec in core.stateful_registry().items():
            cls = getattr(module, class_name)
            assert list(inspect.signature(cls).parameters) == list(spec.signature().parameters), (
                name, class_name,
            )


def test_keras_stateful_layer_is_built_on_construction(recwarn):
    """Its weights exist from ``__init__``: a model holding it builds without Keras'
    "unbuilt state" warning."""
    mk = ADAPTER_MODULES["keras"]

    class Holder(keras.Model):
        def __init__(self):
            super().__init__()
            self.weighting = mk.UncertaintyWeighting(2)

        def call(self, x):
            return x

    layer = mk.UncertaintyWeighting(2)
    assert layer.built
    Holder().build((None, 1))
    assert not [w for w in recwarn if "unbuilt state" in str(w.message)]


def test_class_aliases_are_the_same_class():
    import multiloss.torch as mt

    assert mt.KlDivergence is mt.KLDivergence
    assert "KlDivergence" in mt.__all__ and "KlDivergence" in dir(mt)

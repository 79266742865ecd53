"""The Keras ``Loss`` classes in Keras' own machinery, on this session's backend:
``model.compile``/``fit``, ``.keras`` saving, configs, integer labels, sample weights
and Keras reductions."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

import multiloss.keras as mk
from multiloss import core


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def sigmoid_focal_reference(x, y, alpha=0.25, gamma=2.0):
    """Element-wise sigmoid focal loss in float64 (Lin et al.)."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    p = 1 / (1 + np.exp(-x))
    ce = np.logaddexp(0.0, x) - x * y
    p_t = p * y + (1 - p) * (1 - y)
    return (alpha * y + (1 - alpha) * (1 - y)) * (1 - p_t) ** gamma * ce


def tiny_model(outputs: int, seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(outputs)])


@pytest.fixture
def mixed_float16():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def test_sigmoid_focal_loss_fit_save_reload(tmp_path):
    if "sigmoid_focal_loss" not in core.registry():
        pytest.skip("sigmoid_focal_loss is not registered (focal family not landed)")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4)).astype(np.float32)
    y = (rng.random((16, 3)) > 0.5).astype(np.float32)
    model = tiny_model(3)
    model.compile(optimizer="sgd", loss=mk.SigmoidFocalLoss(gamma=3.0))
    sample_weight = np.linspace(0.0, 2.0, 16).astype(np.float32)  # per sample, loss per element
    history = model.fit(x, y, sample_weight=sample_weight, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])

    path = tmp_path / "focal.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert type(reloaded.loss) is mk.SigmoidFocalLoss
    config = reloaded.loss.get_config()
    assert config["gamma"] == 3.0 and config["alpha"] == 0.25

    logits = model.predict(x, verbose=0)
    want = sigmoid_focal_reference(logits, y, gamma=3.0).mean()  # sum_over_batch_size
    for loss in (model.loss, reloaded.loss):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(loss(y, logits)), want, rtol=1e-5)
    np.testing.assert_allclose(
        reloaded.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0), rtol=1e-6
    )


@pytest.mark.parametrize("label_shape", ["[B]", "[B,1]"])
def test_cross_entropy_fit_keeps_integer_labels(mixed_float16, label_shape):
    # 3000 classes: float16 holds integers exactly only up to 2048, so a cast would move
    # the labels 2049 and 2051 to other classes.
    labels = np.array([2049, 2051, 2999, 7, 2049, 1, 2051, 0])
    seen = []

    class RecordingCrossEntropy(mk.CrossEntropy):
        def call(self, y_true, y_pred):
            seen.append(keras.backend.standardize_dtype(y_true.dtype))
            return super().call(y_true, y_pred)

    x = np.random.default_rng(1).normal(size=(8, 4)).astype(np.float32)
    y = labels if label_shape == "[B]" else labels[:, None]
    model = tiny_model(3000)
    model.compile(optimizer="sgd", loss=RecordingCrossEntropy())
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert seen and all(dtype.startswith("int") for dtype in seen), seen

    logits = keras.ops.convert_to_numpy(model(x)).astype(np.float64)
    want = -log_softmax(logits)[np.arange(8), labels].mean()
    np.testing.assert_allclose(model.evaluate(x, y, batch_size=8, verbose=0), want, rtol=1e-3)


# --- configs ---------------------------------------------------------------------------

#: A value other than the default for parameter names the losses share.
NON_DEFAULT = {
    "class_weight": np.array([0.5, 2.0, 1.0, 1.5, 0.25], np.float32),
    "alpha": 0.3,
    "gamma": 3.0,
    "label_smoothing": 0.1,
    "ignore_index": -1,
    "axis": 1,
    "from_logits": False,
    "epsilon": 2.0,
    "margin": 0.3,
    "normalizer": 4.0,
    "focal": "softmax",
}


def _non_default(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 2 + 0.5
    return None


def non_default_params(spec: core.LossSpec) -> dict:
    params = {}
    for name, default in spec.params.items():
        if name == "reduction":
            continue
        value = NON_DEFAULT.get(name, _non_default(default))
        if value is not None:
            params[name] = value
    return params


CLASS_SPECS = sorted(
    (spec for spec in core.registry().values() if spec.keras_class_name),
    key=lambda s: s.name,
)


def _plain(value):
    return value.tolist() if isinstance(value, np.ndarray) else value


@pytest.mark.parametrize("spec", CLASS_SPECS, ids=lambda s: s.class_name)
def test_config_round_trip_every_loss_class(spec):
    cls = getattr(mk, spec.class_name)
    params = non_default_params(spec)
    loss = cls(reduction="sum", name="custom", **params)
    config = loss.get_config()
    json.dumps(config)  # plain JSON: arrays became lists
    assert config["reduction"] == "sum" and config["name"] == "custom"
    for name, value in params.items():
        assert config[name] == pytest.approx(_plain(value)), name
    restored = cls.from_config(config)
    assert type(restored) is cls and restored.get_config() == config
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert type(revived) is cls and revived.get_config() == config


@pytest.mark.parametrize("class_weight", [[0.5, 2.0, 1.0], np.array([0.5, 2.0, 1.0])], ids=["list", "ndarray"])
def test_class_weight_config_is_a_list(class_weight):
    config = mk.CrossEntropy(class_weight=class_weight).get_config()
    assert config["class_weight"] == [0.5, 2.0, 1.0]
    assert isinstance(config["class_weight"], list)


#: Valid non-default parameters for the issue-2 losses on (4, 5) logits.
VALUE_PARAMS = {
    "cross_entropy": dict(class_weight=np.array([0.5, 2.0, 1.0, 1.5, 0.25]), label_smoothing=0.1),
    "binary_cross_entropy": dict(alpha=0.3, label_smoothing=0.1),
    "sigmoid_focal_loss": dict(alpha=0.3, gamma=3.0),
    "softmax_focal_loss": dict(alpha=[0.25, 0.75, 0.5, 1.0, 0.1], gamma=3.0),
    "poly1_cross_entropy": dict(epsilon=2.0, label_smoothing=0.1),
    "poly1_focal_loss": dict(epsilon=2.0, alpha=0.3, gamma=3.0),
}


@pytest.mark.parametrize("name", sorted(VALUE_PARAMS))
def test_reloaded_loss_gives_the_same_value(name):
    if name not in core.registry():
        pytest.skip(f"{name} is not registered yet")
    spec = core.get_spec(name)
    rng = np.random.default_rng(2)
    logits = rng.normal(scale=2.0, size=(4, 5)).astype(np.float32)
    if spec.kind == "elementwise":
        y = (rng.random((4, 5)) > 0.5).astype(np.float32)
    else:
        y = np.array([1, 0, 4, 2])
    loss = getattr(mk, spec.class_name)(**VALUE_PARAMS[name])
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    value = keras.ops.convert_to_numpy(loss(y, logits))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(revived(y, logits)), value, rtol=1e-6)
    # the parameters are in use: the function with them gives the value (the Keras
    # class reduces the unreduced loss with Keras' "sum_over_batch_size"), the defaults do not
    function = getattr(mk, name)
    with_params = keras.ops.convert_to_numpy(function(y, logits, **VALUE_PARAMS[name])).mean()
    defaults = keras.ops.convert_to_numpy(function(y, logits)).mean()
    np.testing.assert_allclose(value, with_params, rtol=1e-6)
    assert not np.allclose(value, defaults, rtol=1e-4)


# --- sample_weight and Keras reductions ----------------------------------------------------

REDUCTIONS = ["none", "sum", "sum_over_batch_size", "mean_with_sample_weight"]


def _keras_reduce(values, weights, reduction):
    """Per-sample ``weights`` [B] spread over the entries of ``values`` [B, ...]."""
    weights = np.broadcast_to(weights.reshape(weights.shape + (1,) * (values.ndim - 1)), values.shape)
    weighted = values * weights
    if reduction == "none":
        return weighted
    if reduction == "sum":
        return weighted.sum()
    if reduction == "mean_with_sample_weight":
        return weighted.sum() / weights.sum()
    return weighted.sum() / weighted.size


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_sample_weight_and_reduction(reduction):
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(6, 4)).astype(np.float32)
    labels = np.array([0, 3, 1, 1, 2, 0])
    weights = np.array([1.0, 0.0, 2.0, 0.5, 1.0, 3.0], np.float32)
    got = mk.CrossEntropy(reduction=reduction)(labels, logits, sample_weight=weights)
    per_example = -log_softmax(logits)[np.arange(6), labels]
    want = _keras_reduce(per_example, weights, reduction)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(got), want, rtol=1e-5)
    peer = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=reduction)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(got),
        keras.ops.convert_to_numpy(peer(labels, logits, sample_weight=weights)), rtol=1e-5,
    )


@pytest.mark.parametrize("weight_shape", ["[B]", "[B,1]"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_sample_weight_and_reduction(reduction, weight_shape):
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(5, 3)).astype(np.float32)
    targets = (rng.random((5, 3)) > 0.5).astype(np.float32)
    weights = np.array([1.0, 0.0, 2.0, 0.5, 1.0], np.float32)
    sample_weight = weights if weight_shape == "[B]" else weights[:, None]
    got = mk.BinaryCrossEntropy(reduction=reduction)(targets, logits, sample_weight=sample_weight)
    elementwise = np.logaddexp(0.0, logits.astype(np.float64)) - logits * targets
    want = _keras_reduce(elementwise, weights, reduction)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(got), want, rtol=1e-5)


def test_zero_sample_weights_give_zero():
    logits = np.array([[1.0, -2.0, 0.5]], np.float32)
    got = mk.CrossEntropy()(np.array([2]), logits, sample_weight=np.array([0.0], np.float32))
    assert float(keras.ops.convert_to_numpy(got)) == 0.0


# --- a loss of three tensors: gaussian_nll_loss reads means and variances from y_pred ------


def test_gaussian_nll_loss_class_fit_save_reload(tmp_path):
    """``GaussianNLLLoss`` takes the model's ``[means, variances]`` output (last axis twice
    the target's) and equals ``torch.nn.functional.gaussian_nll_loss``."""
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(3)
    x = rng.normal(size=(16, 4)).astype(np.float32)
    y = rng.normal(size=(16, 3)).astype(np.float32)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    outputs = keras.layers.Concatenate()(
        [keras.layers.Dense(3)(inputs), keras.layers.Dense(3, activation="softplus")(inputs)]
    )
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss=mk.GaussianNLLLoss(full=True, eps=1e-3))
    sample_weight = np.linspace(0.0, 2.0, 16).astype(np.float32)
    history = model.fit(x, y, sample_weight=sample_weight, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])

    path = tmp_path / "gaussian.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert type(reloaded.loss) is mk.GaussianNLLLoss
    assert reloaded.loss.get_config()["full"] is True and reloaded.loss.get_config()["eps"] == 1e-3

    output = model.predict(x, verbose=0)
    per_example = F.gaussian_nll_loss(
        torch.tensor(output[:, :3], dtype=torch.float64), torch.tensor(y, dtype=torch.float64),
        torch.tensor(output[:, 3:], dtype=torch.float64), full=True, eps=1e-3, reduction="none",
    ).mean(-1).numpy()
    want = (per_example * sample_weight).sum() / 16  # sum_over_batch_size
    for loss in (model.loss, reloaded.loss):
        got = keras.ops.convert_to_numpy(loss(y, output, sample_weight=sample_weight))
        np.testing.assert_allclose(got, want, rtol=1e-5)


def test_gaussian_nll_loss_class_refuses_an_odd_last_axis():
    with pytest.raises(ValueError, match=r"y_pred and var.*divisible by 2.*\(4, 5\)"):
        mk.GaussianNLLLoss()(np.zeros((4, 2), np.float32), np.ones((4, 5), np.float32))


def test_renamed_class_keeps_its_earlier_name_and_old_saves_load():
    """``KlDivergence`` became ``KLDivergence`` (spelt as Keras spells it): the earlier
    name is the same class, and a config saved under it deserializes."""
    assert mk.KlDivergence is mk.KLDivergence
    assert "KlDivergence" in mk.__all__ and "KLDivergence" in mk.__all__
    saved = keras.saving.serialize_keras_object(mk.KLDivergence(axis=-1, name="kl"))
    saved["registered_name"] = "multiloss>KlDivergence"  # as a model saved before the rename
    revived = keras.saving.deserialize_keras_object(saved)
    assert type(revived) is mk.KLDivergence and revived.name == "kl"

"""Regression tests for the bugs that fuzzing the losses found (issue 13), each with
its reproducer, over every adapter. References are float64 NumPy formulas or the peers
(``torch.nn.functional``), never multiloss itself. The sampled losses' reproducers are
in ``test_fuzz_sampled.py``, the ops-layer ones (torch BCE at saturation, ties) in
``test_fuzz_ops.py``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from multiloss.verify import frameworks

SMALL_INT_DTYPES = ["uint8", "int8", "int16", "uint16", "uint32", "int32", "int64"]


def _labels(adapter, values, dtype):
    """Integer labels of ``dtype``, skipping dtypes the adapter's framework lacks."""
    try:
        return frameworks.cast(adapter.framework, adapter.tensor(np.asarray(values, np.int64)), dtype)
    except (TypeError, AttributeError, RuntimeError) as exc:
        pytest.skip(f"{adapter.framework} has no {dtype} tensors: {exc}")


def _value(adapter, loss, *tensors, **params):
    return frameworks.to_numpy(adapter.fn(loss)(*tensors, **params)).astype(np.float64)


def _log_softmax(x):
    x = np.asarray(x, np.float64)
    z = x - x.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


# --- 1. NaN in gives NaN out, also from probabilities ------------------------------


@pytest.mark.parametrize(
    "loss, params",
    [
        ("binary_cross_entropy", {}),
        ("binary_cross_entropy", {"alpha": 0.3}),
        ("sigmoid_focal_loss", {"gamma": 0.0}),
        ("sigmoid_focal_loss", {"gamma": 2.0, "alpha": 0.25}),
    ],
)
def test_nan_probabilities_give_nan(adapter, loss, params):
    probs = np.array([0.3, np.nan, 0.7], np.float32)
    targets = np.array([1.0, 0.0, 1.0], np.float32)
    got = adapter.call(loss, probs, targets, from_logits=False, reduction="none", **params)
    assert np.isnan(got[1]), got
    assert np.all(np.isfinite(got[[0, 2]])), got
    if loss == "binary_cross_entropy" and not params:
        want = F.binary_cross_entropy(
            torch.tensor(probs[[0, 2]], dtype=torch.float64),
            torch.tensor(targets[[0, 2]], dtype=torch.float64),
            reduction="none",
        ).numpy()
        np.testing.assert_allclose(got[[0, 2]], want, rtol=1e-6)


# --- 2 and 3. Small integer label dtypes; ignore_index compared without wrapping ------


@pytest.mark.parametrize("dtype", SMALL_INT_DTYPES)
@pytest.mark.parametrize(
    "loss, params",
    [
        ("cross_entropy", {"class_weight": [0.2, 1.0, 3.0, 0.5]}),
        ("softmax_focal_loss", {"alpha": [0.2, 1.0, 0.3, 0.5]}),
        ("poly1_focal_loss", {"focal": "softmax", "alpha": [0.2, 1.0, 0.3, 0.5]}),
        ("poly1_cross_entropy", {"label_smoothing": 0.1}),
    ],
)
def test_small_integer_label_dtypes(adapter, dtype, loss, params):
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(5, 4)).astype(np.float32)
    ids = np.array([0, 3, 1, 2, 3])
    want = _value(adapter, loss, adapter.tensor(logits), adapter.tensor(ids), reduction="none", **params)
    got = _value(
        adapter, loss, adapter.tensor(logits), _labels(adapter, ids, dtype), reduction="none", **params
    )
    np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize("dtype", ["uint8", "int16", "int32", "int64"])
def test_ignore_index_is_compared_without_wrapping(adapter, dtype):
    """-100 in uint8 is 156: class 156 must not be ignored (COCO-stuff masks are uint8)."""
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(3, 200)).astype(np.float32)
    ids = np.array([156, 3, 10])
    got = _value(
        adapter, "cross_entropy", adapter.tensor(logits), _labels(adapter, ids, dtype),
        ignore_index=-100, reduction="none",
    )
    want = F.cross_entropy(
        torch.tensor(logits, dtype=torch.float64), torch.tensor(ids), ignore_index=-100, reduction="none"
    ).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5)


@pytest.mark.parametrize("dtype", ["uint8", "int32", "int64"])
def test_ignore_index_masks_in_small_dtypes(adapter, dtype):
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(4, 5)).astype(np.float32)
    ids = np.array([1, 255, 4, 255])
    got = _value(
        adapter, "cross_entropy", adapter.tensor(logits), _labels(adapter, ids, dtype),
        ignore_index=255, reduction="none",
    )
    want = -_log_softmax(logits)[np.arange(4), np.where(ids == 255, 0, ids)] * (ids != 255)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_ignore_index_accepts_numpy_integers(adapter):
    logits = np.array([[2.0, 0.5, 1.0], [0.1, 1.0, 3.0]], np.float32)
    ids = np.array([1, 2])
    got = adapter.call("cross_entropy", logits, ids, ignore_index=np.int64(2), reduction="none")
    np.testing.assert_allclose(got, [1.9643688, 0.0], rtol=1e-5)
    with pytest.raises(TypeError, match="ignore_index"):
        adapter.call("cross_entropy", logits, ids, ignore_index=2.0)


# --- 6. Non-finite vectors and hyper-parameters are refused; 0/0 guard only for 0 ---


@pytest.mark.parametrize(
    "loss, params, name",
    [
        ("cross_entropy", {"class_weight": [np.nan, 1.0, 1.0]}, "class_weight"),
        ("cross_entropy", {"class_weight": np.array([np.inf, 1.0, 1.0])}, "class_weight"),
        ("softmax_focal_loss", {"alpha": [np.nan, 0.5, 0.5]}, "alpha"),
        ("softmax_focal_loss", {"gamma": np.inf}, "gamma"),
        ("poly1_cross_entropy", {"epsilon": float("inf")}, "epsilon"),
        ("sigmoid_focal_loss", {"gamma": float("inf")}, "gamma"),
    ],
)
def test_non_finite_parameters_are_refused(adapter, loss, params, name):
    logits = np.array([[2.0, 0.5, 1.0], [0.1, 1.0, 3.0]], np.float32)
    target = np.array([1, 2]) if loss != "sigmoid_focal_loss" else np.eye(3, dtype=np.float32)[[1, 2]]
    with pytest.raises(ValueError, match=name):
        adapter.call(loss, logits, target, **params)


def test_margin_must_be_finite(adapter):
    emb = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], np.float32)
    with pytest.raises(ValueError, match="margin"):
        adapter.call("batch_circle_loss", emb, np.array([0, 0, 1]), margin=float("inf"))


def test_nan_class_weight_tensor_gives_nan_not_zero(adapter):
    """A weight vector given as a tensor is not read back eagerly; NaN must then show."""
    logits = np.array([[2.0, 0.5, 1.0], [0.1, 1.0, 3.0]], np.float32)
    weights = adapter.tensor(np.array([1.0, np.nan, 1.0], np.float32))
    got = _value(adapter, "cross_entropy", adapter.tensor(logits), adapter.tensor(np.array([1, 2])),
                 class_weight=weights, reduction="mean")
    assert np.isnan(got)


# --- 9. An empty class axis --------------------------------------------------------


def test_smooth_labels_on_an_empty_class_axis(adapter):
    got = adapter.call("smooth_labels", np.zeros((3, 0), np.float32), 0.1)
    assert got.shape == (3, 0)


@pytest.mark.parametrize("loss", ["cross_entropy", "poly1_cross_entropy"])
def test_label_smoothing_on_an_empty_class_axis(adapter, loss):
    probs = np.zeros((3, 0), np.float32)
    with pytest.raises(ValueError, match=r"label_smoothing.*\(3, 0\)"):
        adapter.call(loss, probs, probs, label_smoothing=0.1)


# --- 10. An unknown class axis inside tf.function ------------------------------------


@pytest.mark.parametrize(
    "loss, target_kind, params",
    [
        ("cross_entropy", "probs", {"label_smoothing": 0.1}),
        ("poly1_cross_entropy", "probs", {"label_smoothing": 0.1}),
        ("poly1_cross_entropy", "ids", {"label_smoothing": 0.1}),
        ("poly1_focal_loss", "ids", {"focal": "softmax"}),
        ("softmax_focal_loss", "ids", {"alpha": 0.25}),
    ],
)
def test_unknown_class_axis_under_tf_function(loss, target_kind, params):
    import tensorflow as tf

    import multiloss.tensorflow as ml

    rng = np.random.default_rng(4)
    logits = rng.normal(size=(4, 5)).astype(np.float32)
    ids = np.array([0, 4, 2, 1])
    target = np.eye(5, dtype=np.float32)[ids] * 0.8 + 0.04 if target_kind == "probs" else ids
    fn = getattr(ml, loss)
    eager = fn(tf.constant(logits), tf.constant(target), reduction="none", **params).numpy()
    target_spec = (
        tf.TensorSpec([None, None], tf.float32) if target_kind == "probs" else tf.TensorSpec([None], tf.int64)
    )
    traced = tf.function(
        lambda x, y: fn(x, y, reduction="none", **params),
        input_signature=[tf.TensorSpec([None, None], tf.float32), target_spec],
    )
    np.testing.assert_allclose(traced(tf.constant(logits), tf.constant(target)).numpy(), eager, rtol=1e-5)


# --- 11. Tensor label_smoothing ------------------------------------------------------


@pytest.mark.parametrize(
    "loss, target",
    [
        ("cross_entropy", np.array([1, 2])),
        ("cross_entropy", np.eye(3, dtype=np.float32)[[1, 2]]),
        ("binary_cross_entropy", np.eye(3, dtype=np.float32)[[1, 2]]),
        ("poly1_cross_entropy", np.array([1, 2])),
    ],
)
def test_tensor_label_smoothing_is_refused_eagerly_and_traced(adapter, loss, target):
    """label_smoothing is a static hyper-parameter (a Python number, as in
    ``F.cross_entropy``): a tensor is refused naming it, eagerly and under jit alike."""
    logits = np.array([[2.0, 0.5, 1.0], [0.1, 1.0, 3.0]], np.float32)
    smoothing = adapter.tensor(np.float32(0.1))
    with pytest.raises(TypeError, match="label_smoothing"):
        adapter.fn(loss)(adapter.tensor(logits), adapter.tensor(target), label_smoothing=smoothing)
    # NumPy scalars are numbers: same value as the Python float
    want = adapter.call(loss, logits, target, label_smoothing=0.1)
    got = adapter.call(loss, logits, target, label_smoothing=np.float32(0.1))
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_tensor_label_smoothing_under_jax_jit():
    import jax
    import jax.numpy as jnp

    import multiloss.jax as mj

    logits = jnp.array([[2.0, 0.5, 1.0], [0.1, 1.0, 3.0]])
    with pytest.raises(TypeError, match="label_smoothing"):
        jax.jit(lambda s: mj.cross_entropy(logits, jnp.array([1, 2]), label_smoothing=s))(0.1)


# --- float class ids (ported from keras losses_test.py) ------------------------------


def test_integral_float_ids_with_a_size_one_class_axis(adapter):
    """Keras' SparseCategoricalCrossentropy accepts y_true [2, 1, 4, 4] of integral
    floats for y_pred [2, 2, 4, 4] with the classes on axis 1."""
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(2, 2, 4, 4)).astype(np.float32)
    ids = rng.integers(0, 2, size=(2, 1, 4, 4))
    got = adapter.call("cross_entropy", logits, ids.astype(np.float32), axis=1, reduction="none")
    want = F.cross_entropy(
        torch.tensor(logits, dtype=torch.float64), torch.tensor(ids[:, 0]), reduction="none"
    ).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5)
    with pytest.raises(ValueError, match=r"y_true.*whole number: [01]\.5"):
        adapter.call("cross_entropy", logits, (ids + 0.5).astype(np.float32), axis=1)


def test_keras_binary_segmentation_numbers_with_float_ids_on_a_size_one_axis(adapter):
    """keras ``losses_test.py`` ``test_binary_segmentation``: 16 pixels, two of them
    wrong with p = 0.2 and 0.4, mean ``(−log 0.2 − log 0.4) / 16`` (Keras' numbers), here
    with the ids as integral floats on a size-1 class axis at ``axis=1``."""
    y_true = np.array([[0, 1, 1, 0], [1, 0, 1, 0], [0, 0, 1, 1], [1, 1, 0, 1]])
    y_pred = np.array(
        [
            [[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.2, 0.8]],
            [[0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0]],
            [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]],
            [[0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [0.6, 0.4]],
        ],
        np.float32,
    )
    expected = np.array([-np.log(0.2), -np.log(0.4)]).sum() / 16.0
    ids = y_true[:, None, :].astype(np.float32)  # [4, 1, 4]
    got = adapter.call(
        "cross_entropy", np.moveaxis(y_pred, 2, 1), ids, axis=1, from_logits=False,
        reduction="mean",
    )
    np.testing.assert_allclose(got, expected, rtol=1e-6)

"""Segmentation overlap losses: dice_loss and jaccard_loss against
``optax.losses.dice_loss``; lovasz_softmax_loss and lovasz_hinge_loss against a float64
torch port of the reference implementation (github.com/bermanmaxim/LovaszSoftmax,
``pytorch/lovasz_losses.py``, Berman et al. 2018, https://arxiv.org/abs/1705.08790).
Plus ignored pixels, empty classes and extreme logits (finite values and gradients in
every float dtype), argument errors, the class forms and compiled tracing.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
from loss_cases import ADAPTERS_ONCE

from multiloss.verify import frameworks

IGNORE = 255
ONCE = pytest.mark.parametrize("adapter", ADAPTERS_ONCE, indirect=True)
cross_framework = pytest.mark.cross_framework


def reduce_np(values, reduction):
    return {"none": values, "mean": values.mean(), "sum": values.sum()}[reduction]


def assert_close(got, want, rtol=1e-5, atol=1e-7):
    np.testing.assert_allclose(np.asarray(got, np.float64), np.asarray(want, np.float64), rtol=rtol, atol=atol)


def segmentation(rng, shape=(2, 4, 5), classes=3, absent=True):
    logits = rng.normal(scale=1.5, size=(*shape, classes)).astype(np.float32)
    ids = rng.integers(0, classes, size=shape)
    if absent:
        ids[-1][ids[-1] == classes - 1] = 0  # the last class is absent from the last image
    return logits, ids


# --- Dice / Jaccard against optax ------------------------------------------------------


def optax_per_image(logits, targets, keep=None, **params):
    """optax.losses.dice_loss per image (float32, jax.grad), on the kept pixels only."""

    def loss(x):
        if keep is None:
            return optax.losses.dice_loss(x, targets, **params)
        return jnp.stack([
            optax.losses.dice_loss(x[b][keep[b]][None], targets[b][keep[b]][None], **params)[0]
            for b in range(x.shape[0])
        ])

    return loss


def optax_reference(loss, logits, reduction):
    value = np.asarray(reduce_np(np.asarray(loss(logits), np.float64), reduction))
    grad = jax.grad(lambda x: {"none": jnp.sum, "mean": jnp.mean, "sum": jnp.sum}[reduction](loss(x)))(logits)
    return value, np.asarray(grad, np.float64)


@ONCE
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("targets", ["ids", "one_hot", "ids_class_axis"])
@pytest.mark.parametrize("alpha, beta", [(0.5, 0.5), (0.3, 0.7)])
def test_dice_matches_optax(adapter, rng, reduction, targets, alpha, beta):
    logits, ids = segmentation(rng)
    one_hot = np.eye(3, dtype=np.float32)[ids]
    y_true = {"ids": ids, "one_hot": one_hot, "ids_class_axis": ids[..., None]}[targets]
    want, want_grad = optax_reference(
        optax_per_image(logits, one_hot, alpha=alpha, beta=beta), logits, reduction
    )
    value, (grad,) = adapter.value_and_grad(
        "dice_loss", logits, y_true, alpha=alpha, beta=beta, reduction=reduction
    )
    assert value.shape == want.shape
    assert_close(value, want)
    assert_close(grad, want_grad)


@ONCE
@pytest.mark.parametrize(
    "params",
    [
        {"class_weight": [0.2, 1.0, 2.5], "smooth": 0.5},
        {"smooth": 0.0},
        {"from_logits": False},
    ],
    ids=["class_weight_smooth", "smooth_0", "probabilities"],
)
def test_dice_options_match_optax(adapter, rng, params):
    logits, ids = segmentation(rng)
    if params.get("from_logits") is False:
        logits = np.asarray(jax.nn.softmax(logits, axis=-1))
    one_hot = np.eye(3, dtype=np.float32)[ids]
    optax_params = {
        "class_weights": None if "class_weight" not in params else jnp.asarray(params["class_weight"]),
        "smooth": params.get("smooth", 1.0),
        "apply_softmax": params.get("from_logits", True),
    }
    want, want_grad = optax_reference(optax_per_image(logits, one_hot, **optax_params), logits, "none")
    value, (grad,) = adapter.value_and_grad("dice_loss", logits, ids, reduction="none", **params)
    assert_close(value, want)
    assert_close(grad, want_grad)


@ONCE
@pytest.mark.parametrize("target_rank", ["with_class_axis", "without"])
def test_binary_dice_is_sigmoid_dice(adapter, rng, target_rank):
    logits = rng.normal(scale=2.0, size=(3, 4, 4, 1)).astype(np.float32)
    mask = (rng.random((3, 4, 4)) > 0.6).astype(np.float32)
    y_true = mask[..., None] if target_rank == "with_class_axis" else mask
    want, want_grad = optax_reference(optax_per_image(logits, mask[..., None]), logits, "none")
    value, (grad,) = adapter.value_and_grad("dice_loss", logits, y_true, reduction="none")
    assert_close(value, want)
    assert_close(grad, want_grad)


@ONCE
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_jaccard_matches_optax_alpha_beta_one(adapter, rng, reduction):
    logits, ids = segmentation(rng)
    one_hot = np.eye(3, dtype=np.float32)[ids]
    want, want_grad = optax_reference(
        optax_per_image(logits, one_hot, alpha=1.0, beta=1.0), logits, reduction
    )
    value, (grad,) = adapter.value_and_grad("jaccard_loss", logits, ids, reduction=reduction)
    assert_close(value, want)
    assert_close(grad, want_grad)
    dice = adapter.call("dice_loss", logits, ids, alpha=1.0, beta=1.0, reduction=reduction)
    assert_close(value, dice, rtol=0, atol=0)


@ONCE
@pytest.mark.parametrize("loss", ["dice_loss", "jaccard_loss"])
def test_ignored_pixels_count_nowhere(adapter, rng, loss):
    """The value of optax on each image's kept pixels; ignored pixels get a zero gradient
    and NaN there never reaches the result; a fully ignored image gives 0."""
    logits, ids = segmentation(rng, shape=(3, 4, 5))
    masked = ids.copy()
    masked[0, :2] = IGNORE
    masked[2] = IGNORE
    keep = masked != IGNORE
    one_hot = np.eye(3, dtype=np.float32)[np.where(keep, masked, 0)]
    ab = {"alpha": 1.0, "beta": 1.0} if loss == "jaccard_loss" else {}
    want, want_grad = optax_reference(optax_per_image(logits, one_hot, keep, **ab), logits, "none")
    poisoned = logits.copy()
    poisoned[~keep] = np.nan
    value, (grad,) = adapter.value_and_grad(loss, poisoned, masked, ignore_index=IGNORE, reduction="none")
    assert_close(value, want)
    assert_close(grad, want_grad)
    assert value[2] == 0.0 and np.all(grad[~keep] == 0.0)
    mean = adapter.call(loss, logits, masked, ignore_index=IGNORE, reduction="mean")
    assert_close(mean, want.mean())  # the fully ignored image counts (as 0)


@ONCE
def test_binary_dice_ignore_index(adapter, rng):
    logits = rng.normal(size=(2, 3, 4, 1)).astype(np.float32)
    mask = (rng.random((2, 3, 4)) > 0.5).astype(np.float32)
    mask[0, 0] = IGNORE
    keep = mask != IGNORE
    targets = np.where(keep, mask, 0.0)[..., None].astype(np.float32)
    want, want_grad = optax_reference(optax_per_image(logits, targets, keep), logits, "none")
    value, (grad,) = adapter.value_and_grad("dice_loss", logits, mask, ignore_index=IGNORE, reduction="none")
    assert_close(value, want)
    assert_close(grad, want_grad)


@ONCE
def test_dice_perfect_prediction_is_zero(adapter):
    ids = np.array([[[0, 1], [2, 2]]])
    logits = 30.0 * np.eye(3, dtype=np.float32)[ids]
    assert abs(adapter.call("dice_loss", logits, ids, smooth=0.0, reduction="none")[0]) < 1e-6


# --- Lovász: the reference implementation, ported ----------------------------------------
#
# A float64 torch port of pytorch/lovasz_losses.py of github.com/bermanmaxim/LovaszSoftmax
# (Maxim Berman, MIT License): lovasz_grad (Algorithm 1 of the paper), the flat losses on
# the non-void pixels, per image. Where the reference cannot return a number (an image
# whose every pixel is void: an empty tensor) the port gives 0, its stated intent.


def ref_lovasz_grad(gt_sorted):
    gts = gt_sorted.sum()
    intersection = gts - gt_sorted.cumsum(0)
    union = gts + (1 - gt_sorted).cumsum(0)
    jaccard = 1.0 - intersection / union
    if len(gt_sorted) > 1:
        jaccard[1:] = jaccard[1:] - jaccard[:-1].clone()
    return jaccard


def ref_lovasz_softmax_image(probas, labels, classes, ignore):
    """probas [P, C] and labels [P] of one image (the reference's lovasz_softmax_flat)."""
    if ignore is not None:
        probas, labels = probas[labels != ignore], labels[labels != ignore]
    if probas.numel() == 0:
        return probas.sum() * 0.0
    losses = []
    for c in range(probas.shape[1]):
        fg = (labels == c).double()
        if classes == "present" and fg.sum() == 0:
            continue
        errors_sorted, perm = torch.sort((fg - probas[:, c]).abs(), 0, descending=True)
        losses.append(torch.dot(errors_sorted, ref_lovasz_grad(fg[perm])))
    return sum(losses) / len(losses) if losses else probas.sum() * 0.0


def ref_lovasz_hinge_image(logits, labels, ignore):
    if ignore is not None:
        logits, labels = logits[labels != ignore], labels[labels != ignore]
    if len(labels) == 0:
        return logits.sum() * 0.0
    errors = 1.0 - logits * (2.0 * labels.double() - 1.0)
    errors_sorted, perm = torch.sort(errors, 0, descending=True)
    return torch.dot(torch.relu(errors_sorted), ref_lovasz_grad(labels.double()[perm]))


def lovasz_reference(loss, y_pred, y_true, reduction, *, from_logits=True, classes="present", ignore=None):
    """Per-image values (or their mean / sum) and the gradient for y_pred, float64."""
    x = torch.tensor(y_pred, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor(y_true)
    per_image = []
    for b in range(x.shape[0]):
        if loss == "lovasz_softmax_loss":
            probas = torch.softmax(x[b], -1) if from_logits else x[b]
            per_image.append(ref_lovasz_softmax_image(probas.reshape(-1, x.shape[-1]), labels[b].reshape(-1), classes, ignore))
        else:
            per_image.append(ref_lovasz_hinge_image(x[b].reshape(-1), labels[b].reshape(-1), ignore))
    out = reduce_np(torch.stack(per_image), reduction)
    (grad,) = torch.autograd.grad(out.sum(), x)
    return out.detach().numpy(), grad.numpy()


@ONCE
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("classes", ["present", "all"])
def test_lovasz_softmax_matches_reference(adapter, rng, reduction, classes):
    logits, ids = segmentation(rng, shape=(3, 3, 4), classes=4)
    want, want_grad = lovasz_reference("lovasz_softmax_loss", logits, ids, reduction, classes=classes)
    value, (grad,) = adapter.value_and_grad(
        "lovasz_softmax_loss", logits, ids, classes=classes, reduction=reduction
    )
    assert_close(value, want)
    assert_close(grad, want_grad)


@ONCE
def test_lovasz_softmax_from_probabilities_with_ignore_index(adapter, rng):
    logits, ids = segmentation(rng, shape=(3, 3, 4), classes=4)
    probs = np.asarray(jax.nn.softmax(logits, axis=-1))
    masked = ids.copy()
    masked[0, 1] = IGNORE
    masked[2] = IGNORE
    want, want_grad = lovasz_reference(
        "lovasz_softmax_loss", probs, masked, "none", from_logits=False, ignore=IGNORE
    )
    poisoned = probs.copy()
    poisoned[masked == IGNORE] = np.nan
    value, (grad,) = adapter.value_and_grad(
        "lovasz_softmax_loss", poisoned, masked, from_logits=False, ignore_index=IGNORE, reduction="none"
    )
    assert_close(value, want)
    assert_close(grad, want_grad)
    assert value[2] == 0.0 and np.all(grad[masked == IGNORE] == 0.0)


@ONCE
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("shape", [(3, 4, 5), (4, 7)])
def test_lovasz_hinge_matches_reference(adapter, rng, reduction, shape):
    logits = rng.normal(scale=1.5, size=shape).astype(np.float32)
    labels = (rng.random(shape) > 0.6).astype(np.float32)
    labels[0] = 0.0  # an image without foreground
    want, want_grad = lovasz_reference("lovasz_hinge_loss", logits, labels, reduction)
    value, (grad,) = adapter.value_and_grad("lovasz_hinge_loss", logits, labels, reduction=reduction)
    assert_close(value, want)
    assert_close(grad, want_grad)


@ONCE
def test_lovasz_hinge_ignore_index(adapter, rng):
    logits = rng.normal(scale=1.5, size=(3, 4, 5)).astype(np.float32)
    labels = (rng.random((3, 4, 5)) > 0.6).astype(np.int64)
    labels[0, :2] = IGNORE
    labels[1] = IGNORE
    want, want_grad = lovasz_reference("lovasz_hinge_loss", logits, labels, "none", ignore=IGNORE)
    poisoned = logits.copy()
    poisoned[labels == IGNORE] = np.nan
    value, (grad,) = adapter.value_and_grad(
        "lovasz_hinge_loss", poisoned, labels, ignore_index=IGNORE, reduction="none"
    )
    assert_close(value, want)
    assert_close(grad, want_grad)
    assert value[1] == 0.0 and np.all(grad[labels == IGNORE] == 0.0)


@ONCE
def test_lovasz_hinge_is_zero_beyond_the_margin(adapter):
    labels = np.array([[[1.0, 0.0], [0.0, 1.0]]], np.float32)
    logits = (2.0 * labels - 1.0) * 1.5
    assert adapter.call("lovasz_hinge_loss", logits, labels, reduction="none")[0] == 0.0


# --- finite everywhere ------------------------------------------------------------------


def degenerate_inputs(loss):
    """Extreme logits (±1e4), classes absent from an image, a fully ignored image."""
    ids = np.array([[[0, 0, 1], [1, 0, 0]], [[2, 2, 2], [2, 2, 2]], [[IGNORE] * 3] * 2])
    extreme = np.where(np.eye(3, dtype=bool)[np.where(ids == IGNORE, 1, ids)], 1e4, -1e4).astype(np.float32)
    extreme[0, 0, 0] = [-1e4, 1e4, -1e4]  # confidently wrong
    if loss == "lovasz_hinge_loss":
        return extreme[..., 0], np.where(ids == IGNORE, IGNORE, ids == 0).astype(np.float32)
    return extreme, ids


@ONCE
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize(
    "loss, params",
    [
        ("dice_loss", {}),
        ("dice_loss", {"smooth": 0.0}),
        ("dice_loss", {"smooth": 0.0, "alpha": 0.0, "beta": 0.0}),
        ("jaccard_loss", {"smooth": 0.0}),
        ("lovasz_softmax_loss", {}),
        ("lovasz_softmax_loss", {"classes": "all"}),
        ("lovasz_hinge_loss", {}),
    ],
)
def test_finite_for_extreme_logits_empty_classes_and_ignored_images(adapter, loss, params, dtype):
    y_pred, y_true = degenerate_inputs(loss)
    for reduction in ("none", "mean"):
        value, (grad,) = adapter.value_and_grad(
            loss, y_pred, y_true, dtype=dtype, ignore_index=IGNORE, reduction=reduction, **params
        )
        assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad)), (reduction, value, grad)
        assert np.all(grad[y_true == IGNORE] == 0.0)
    per_image = adapter.call(loss, y_pred, y_true, ignore_index=IGNORE, reduction="none", **params)
    assert per_image[-1] == 0.0  # the fully ignored image


@ONCE
@pytest.mark.parametrize("loss", ["dice_loss", "jaccard_loss"])
def test_smooth_zero_with_a_vanishing_denominator(adapter, loss):
    """smooth=0, a class absent from the target and predicted with probability ~1e-39
    (a float32 subnormal): finite value and gradient."""
    logits = np.zeros((1, 2, 2, 2), np.float32)
    logits[..., 1] = -90.0
    ids = np.zeros((1, 2, 2), np.int64)
    value, (grad,) = adapter.value_and_grad(loss, logits, ids, smooth=0.0, reduction="none")
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))
    assert_close(value, [0.0], atol=1e-6)


# --- arguments ----------------------------------------------------------------------------


BAD = [
    ("dice_loss", (2, 3, 4), (2, 3, 5), {}, ValueError, ["y_true", "(2, 3, 5)"]),
    ("dice_loss", (2, 3, 4), (2, 3, 4), {"ignore_index": 0, "one_hot": True}, ValueError, ["ignore_index", "one-hot"]),
    ("dice_loss", (2, 3, 4), (2, 3), {"smooth": -1.0}, ValueError, ["smooth"]),
    ("dice_loss", (2, 3, 4), (2, 3), {"alpha": -0.5}, ValueError, ["alpha"]),
    ("dice_loss", (2, 3, 4), (2, 3), {"class_weight": [1.0, 2.0]}, ValueError, ["class_weight", "length 4"]),
    ("dice_loss", (3,), (3,), {}, ValueError, ["y_pred", "rank"]),
    ("jaccard_loss", (2, 3, 0), (2, 3), {}, ValueError, ["y_pred", "at least 1"]),
    ("lovasz_softmax_loss", (2, 3, 4), (2, 3), {"classes": "some"}, ValueError, ["classes", "some"]),
    ("lovasz_softmax_loss", (2, 3, 1), (2, 3), {}, ValueError, ["lovasz_hinge_loss", "(2, 3, 1)"]),
    ("lovasz_softmax_loss", (2, 3, 4), (2, 3, 4), {"one_hot": True}, ValueError, ["integer class ids", "(2, 3, 4)"]),
    ("lovasz_softmax_loss", (2, 3, 4), (2, 4), {}, ValueError, ["y_true", "(2, 4)"]),
    ("lovasz_softmax_loss", (2, 3, 4), (2, 3), {"ignore_index": 1.5}, TypeError, ["ignore_index"]),
    ("lovasz_hinge_loss", (2, 3), (2, 4), {}, ValueError, ["y_true", "(2, 4)"]),
]


@ONCE
@pytest.mark.parametrize("loss, pred_shape, true_shape, params, exception, fragments", BAD)
def test_bad_arguments_name_the_argument(adapter, loss, pred_shape, true_shape, params, exception, fragments):
    params = dict(params)
    y_pred = np.zeros(pred_shape, np.float32)
    if params.pop("one_hot", False) or loss == "lovasz_hinge_loss":
        y_true = np.zeros(true_shape, np.float32)
    else:
        y_true = np.zeros(true_shape, np.int64)
    with pytest.raises(exception) as info:
        adapter.call(loss, y_pred, y_true, **params)
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))


@ONCE
def test_out_of_range_class_ids_are_refused(adapter):
    with pytest.raises(ValueError, match="class id 3"):
        adapter.call("dice_loss", np.zeros((1, 2, 3), np.float32), np.array([[0, 3]]))


# --- class forms and compiled tracing ----------------------------------------------------


@cross_framework
def test_class_forms_equal_the_functions(rng):
    import keras

    import multiloss.keras as mk
    import multiloss.torch as mt

    logits, ids = segmentation(rng)
    binary = (ids > 0).astype(np.float32)
    for name, cls, y_true, params in [
        ("dice_loss", "DiceLoss", ids, {"alpha": 0.3, "beta": 0.7}),
        ("jaccard_loss", "JaccardLoss", ids, {}),
        ("lovasz_softmax_loss", "LovaszSoftmaxLoss", ids, {"classes": "all"}),
        ("lovasz_hinge_loss", "LovaszHingeLoss", binary, {}),
    ]:
        y_pred = logits[..., 0] if name == "lovasz_hinge_loss" else logits
        want = frameworks.to_numpy(getattr(mt, name)(torch.tensor(y_pred), torch.tensor(y_true), **params))
        module = getattr(mt, cls)(**params)
        assert isinstance(module, torch.nn.Module)
        assert_close(frameworks.to_numpy(module(torch.tensor(y_pred), torch.tensor(y_true))), want)
        keras_loss = getattr(mk, cls)(**params)
        assert isinstance(keras_loss, keras.losses.Loss)
        assert_close(keras.ops.convert_to_numpy(keras_loss(y_true, y_pred)), want, rtol=1e-5, atol=1e-6)


COMPILED = [
    ("dice_loss", {"ignore_index": IGNORE, "alpha": 0.3, "beta": 0.7, "class_weight": [1.0, 0.5, 2.0]}),
    ("lovasz_softmax_loss", {"ignore_index": IGNORE}),
    ("lovasz_hinge_loss", {"ignore_index": IGNORE}),
]


def compiled_inputs(loss):
    rng = np.random.default_rng(3)
    logits, ids = segmentation(rng, shape=(3, 4, 5))
    ids[0, 0] = IGNORE
    ids[2] = IGNORE
    if loss == "lovasz_hinge_loss":
        return logits[..., 0], np.where(ids == IGNORE, IGNORE, ids > 0).astype(np.float32)
    return logits, ids


@cross_framework
@pytest.mark.parametrize("loss, params", COMPILED)
def test_traces_under_jit_compile_and_xla(loss, params):
    """jax.jit, torch.compile(fullgraph=True) and tf.function(jit_compile=True) with
    ignored pixels, a where mask and sample weights: the eager values and gradients."""
    import tensorflow as tf

    import multiloss.jax as mj
    import multiloss.tensorflow as mtf
    import multiloss.torch as mt

    y_pred, y_true = compiled_inputs(loss)
    where = np.array([True, False, True])
    weights = np.array([0.5, 2.0, 1.0], np.float32)

    def per_batch(framework):
        return {"where": frameworks.to_tensor(framework, where),
                "sample_weight": frameworks.to_tensor(framework, weights)}

    full = dict(params, **per_batch("torch"))
    eager, (eager_grad,) = frameworks.value_and_grad(
        "torch", lambda x, y: getattr(mt, loss)(x, y, **full), (y_pred, y_true)
    )

    jax_params = dict(params, **per_batch("jax"))
    jax_fn = jax.jit(jax.value_and_grad(lambda x, y: getattr(mj, loss)(x, y, **jax_params)))
    value, grad = jax_fn(y_pred, y_true)
    assert_close(value, eager, rtol=1e-5, atol=1e-6)
    assert_close(grad, eager_grad, rtol=1e-5, atol=1e-6)

    compiled = torch.compile(lambda x, y: getattr(mt, loss)(x, y, **full), fullgraph=True, backend="aot_eager")
    try:
        x = torch.tensor(y_pred, requires_grad=True)
        out = compiled(x, torch.tensor(y_true))
        (grad,) = torch.autograd.grad(out, x)
    finally:
        torch._dynamo.reset()
    assert_close(out.detach().numpy(), eager, rtol=1e-5, atol=1e-6)
    assert_close(grad.numpy(), eager_grad, rtol=1e-5, atol=1e-6)

    tf_params = dict(params, **per_batch("tensorflow"))

    @tf.function(jit_compile=True)
    def tf_step(x, y):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = getattr(mtf, loss)(x, y, **tf_params)
        return out, tape.gradient(out, x)

    out, grad = tf_step(tf.constant(y_pred), tf.constant(y_true))
    assert_close(out.numpy(), eager, rtol=1e-5, atol=1e-6)
    assert_close(grad.numpy(), eager_grad, rtol=1e-5, atol=1e-6)


@cross_framework
def test_traced_smooth_alpha_beta_and_class_weight():
    """Hyper-parameters as traced values (jax.jit arguments, tf.function XLA inputs)
    give the eager numbers."""
    import tensorflow as tf

    import multiloss.jax as mj
    import multiloss.tensorflow as mtf

    logits, ids = segmentation(np.random.default_rng(5))
    params = {"smooth": 0.5, "alpha": 0.3, "beta": 0.7, "class_weight": [1.0, 0.5, 2.0]}
    eager = np.asarray(mj.dice_loss(logits, ids, reduction="none", **params))
    traced = jax.jit(lambda **p: mj.dice_loss(logits, ids, reduction="none", **p))(
        **{k: jnp.asarray(v, jnp.float32) for k, v in params.items()}
    )
    assert_close(traced, eager, rtol=1e-6)
    step = tf.function(lambda **p: mtf.dice_loss(tf.constant(logits), tf.constant(ids), reduction="none", **p),
                       jit_compile=True)
    assert_close(step(**{k: tf.constant(v, tf.float32) for k, v in params.items()}).numpy(), eager, rtol=1e-6)

"""Property tests (hypothesis, bounded) of ``where=``, ``sample_weight=`` and the
reductions, over random shapes, dtypes and parameters of every loss with a reduction:

- torch, jax and tensorflow agree on values and gradients (float32, float16, bfloat16);
- ``where`` all true is no ``where``, ``sample_weight`` of ones is no ``sample_weight``;
- ``softmax_focal_loss(gamma=0, alpha=None)`` and ``poly1_cross_entropy(epsilon=0)`` are
  ``cross_entropy``;
- the losses that cannot be negative never are.

Run once with the three frameworks in one process (``cross_framework``).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from multiloss import core
from multiloss.verify import frameworks

pytestmark = pytest.mark.cross_framework

FRAMEWORKS = ("torch", "jax", "tensorflow")
BOUNDED = settings(
    max_examples=12, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
FEW = settings(BOUNDED, max_examples=6)
REDUCED = sorted(name for name, spec in core.registry().items() if spec.has_reduction)
REDUCTIONS = ("none", "sum", "mean")
#: rtol for a result rounded to the dtype (the losses compute half precision in float32)
RTOL = {"float32": 1e-5, "float16": 2e-3, "bfloat16": 1.6e-2}


# --- random inputs for every loss with a reduction ---------------------------------------
# Few distinct shapes and parameter values: eager JAX compiles once per shape.


def _probabilities(rng, rows, classes, sparse):
    p = rng.dirichlet(np.ones(classes), size=rows)
    if sparse:  # exact zeros, as one-hot targets have
        p[rng.random(p.shape) < 0.3] = 0.0
        p[np.arange(rows), rng.integers(0, classes, rows)] += 0.5
        p /= p.sum(-1, keepdims=True)
    return p.astype(np.float32)


def draw_inputs(data, loss: str):
    """``(arrays, params, grad_args)`` for ``loss``: random shapes, values, parameters."""
    draw = data.draw
    rows = draw(st.sampled_from([1, 4]), "rows")
    classes = draw(st.sampled_from([2, 5]), "classes")
    scale = draw(st.sampled_from([1.0, 4.0]), "scale")
    rng = np.random.default_rng(draw(st.integers(0, 2**16), "seed"))
    x = (rng.normal(size=(rows, classes)) * scale).astype(np.float32)
    ids = rng.integers(0, classes, size=rows)
    binary = (rng.random((rows, classes)) > 0.5).astype(np.float32)
    labels = draw(st.sampled_from(["ids", "one_hot", "soft"]), "labels")
    targets = {"ids": ids, "one_hot": np.eye(classes, dtype=np.float32)[ids],
               "soft": _probabilities(rng, rows, classes, sparse=False)}[labels]
    params = {}
    if loss == "cross_entropy":
        params["label_smoothing"] = draw(st.sampled_from([0.0, 0.1]), "label_smoothing")
        if labels == "ids" and draw(st.booleans(), "class_weight"):
            params["class_weight"] = rng.uniform(0.2, 2.0, classes).astype(np.float32)
        return (x, targets), params, (0,)
    if loss == "softmax_focal_loss":
        targets = targets if labels != "soft" else np.eye(classes, dtype=np.float32)[ids]
        params["gamma"] = draw(st.sampled_from([0.0, 0.5, 2.0]), "gamma")
        params["alpha"] = draw(st.sampled_from([None, 0.25, "vector"]), "alpha")
        if params["alpha"] == "vector":
            params["alpha"] = rng.uniform(0.1, 1.0, classes).astype(np.float32)
        return (x, targets), params, (0,)
    if loss == "poly1_cross_entropy":
        params["epsilon"] = draw(st.sampled_from([0.0, 1.0, 2.0]), "epsilon")
        params["label_smoothing"] = draw(st.sampled_from([0.0, 0.1]), "label_smoothing")
        return (x, targets), params, (0,)
    if loss == "poly1_focal_loss":
        params["epsilon"] = draw(st.sampled_from([0.0, 1.0, 2.0]), "epsilon")
        params["gamma"] = draw(st.sampled_from([0.5, 2.0]), "gamma")
        if draw(st.booleans(), "softmax"):
            return (x, ids), dict(params, focal="softmax"), (0,)
        return (x, binary), params, (0,)
    if loss in ("binary_cross_entropy", "sigmoid_focal_loss"):
        y = binary if draw(st.booleans(), "binary") else rng.random((rows, classes)).astype(np.float32)
        params["alpha"] = draw(st.sampled_from([None, 0.25]), "alpha")
        if loss == "binary_cross_entropy":
            params["label_smoothing"] = draw(st.sampled_from([0.0, 0.1]), "label_smoothing")
        else:
            params["gamma"] = draw(st.sampled_from([0.0, 2.0]), "gamma")
        return (x, y), params, (0,)
    if loss == "kl_divergence":
        return (x, _probabilities(rng, rows, classes, sparse=labels != "soft")), params, (0,)
    if loss in ("distillation_loss", "js_divergence"):  # two sets of logits
        other = (rng.normal(size=x.shape) * scale).astype(np.float32)
        if loss == "distillation_loss":
            params["temperature"] = draw(st.sampled_from([1.0, 4.0, 0.05]), "temperature")
            return (x, other), params, (0,)
        if draw(st.booleans(), "probabilities"):
            params["from_logits"] = False
            x, other = _probabilities(rng, rows, classes, True), _probabilities(rng, rows, classes, False)
        return (x, other), params, (0, 1)
    if loss == "mean_squared_error":
        return (x, rng.normal(size=x.shape).astype(np.float32)), params, (0,)
    if loss == "hinge_loss":
        signs = binary if labels == "ids" else 2 * binary - 1  # {0, 1} are mapped to {-1, 1}
        return (x, signs), params, (0,)
    if loss == "pairwise_hinge_loss":
        params["margin"] = draw(st.sampled_from([0.5, 1.0]), "margin")
        return (x, (rng.normal(size=x.shape) * scale).astype(np.float32)), params, (0, 1)
    if loss == "circle_loss":
        params["gamma"] = draw(st.sampled_from([16.0, 80.0]), "gamma")
        params["margin"] = draw(st.sampled_from([0.25, 0.4]), "margin")
        sp = rng.uniform(-1, 1, size=(rows, 3)).astype(np.float32)
        sn = rng.uniform(-1, 1, size=(rows, classes)).astype(np.float32)
        return (sp, sn), params, (0, 1)
    if loss in ("arcface_loss", "cosface_loss"):
        params["margin"] = draw(st.sampled_from([0.2, 0.5]), "margin")
        params["scale"] = draw(st.sampled_from([16.0, 64.0]), "scale")
        if loss == "arcface_loss":
            params["easy_margin"] = draw(st.booleans(), "easy_margin")
        return (rng.uniform(-1, 1, size=(rows, classes)).astype(np.float32), ids), params, (0,)
    if loss in ("softmax_ranking_loss", "pairwise_logistic_loss", "listmle_loss"):
        grades = rng.integers(0, 3, size=x.shape)  # ties; some lists without a relevant item
        return (x, grades if labels == "ids" else grades.astype(np.float32)), params, (0,)
    if loss == "batch_circle_loss":
        params["gamma"] = draw(st.sampled_from([16.0, 80.0]), "gamma")
        embeddings = rng.normal(size=(2 * rows, 4))
        embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
        labels = np.repeat(rng.permutation(rows), 2)  # every anchor has a positive
        return (embeddings.astype(np.float32), labels), params, (0,)
    if loss == "linear_cross_entropy":
        params["chunk_size"] = draw(st.sampled_from([2, 8]), "chunk_size")
        hidden = (rng.normal(size=(rows, 3)) * scale).astype(np.float32)
        weight = rng.normal(size=(classes, 3)).astype(np.float32)
        return (hidden, weight, ids), params, (0, 1)
    if loss in ("mean_absolute_error", "huber_loss", "smooth_l1_loss", "log_cosh_loss",
                "quantile_loss", "cosine_distance"):
        if loss == "huber_loss":
            params["delta"] = draw(st.sampled_from([0.5, 1.0, 3.0]), "delta")
        if loss == "smooth_l1_loss":
            params["beta"] = draw(st.sampled_from([0.0, 0.5, 1.0]), "beta")
        if loss == "quantile_loss":
            params["quantile"] = draw(st.sampled_from([0.1, 0.5, "vector"]), "quantile")
            if params["quantile"] == "vector":
                params["quantile"] = rng.uniform(0.05, 0.95, classes).astype(np.float32)
        return (x, (rng.normal(size=x.shape) * scale).astype(np.float32)), params, (0, 1)
    if loss == "poisson_nll_loss":
        params["log_input"] = draw(st.booleans(), "log_input")
        params["full"] = draw(st.booleans(), "full")
        rate = x / np.float32(scale) if params["log_input"] else np.abs(x) + np.float32(0.1)
        return (rate, rng.poisson(2.0, size=x.shape).astype(np.float32)), params, (0,)
    if loss == "gaussian_nll_loss":
        params["full"] = draw(st.booleans(), "full")
        var_shape = x.shape if draw(st.booleans(), "per entry var") else (rows, 1)
        var = rng.uniform(0.2, 2.0, size=var_shape).astype(np.float32)
        return (x, rng.normal(size=x.shape).astype(np.float32), var), params, (0, 2)
    if loss == "squared_hinge_loss":
        return (x, binary if labels == "ids" else 2 * binary - 1), params, (0,)
    if loss in ("categorical_hinge_loss", "multi_margin_loss"):
        y = ids if labels == "ids" else np.eye(classes, dtype=np.float32)[ids]
        if loss == "multi_margin_loss":
            params["p"] = draw(st.sampled_from([1, 2]), "p")
            params["margin"] = draw(st.sampled_from([0.5, 1.0]), "margin")
            if draw(st.booleans(), "class_weight"):
                params["class_weight"] = rng.uniform(0.2, 2.0, classes).astype(np.float32)
        return (x, y), params, (0,)
    if loss in ("iou_loss", "giou_loss", "diou_loss", "ciou_loss"):
        params["box_format"] = draw(st.sampled_from(["xyxy", "xywh", "cxcywh"]), "box_format")
        corners = rng.uniform(0.0, 4.0, size=(2, rows, 2)) * scale
        sizes = rng.uniform(0.5, 3.0, size=(2, rows, 2)) * scale
        ends = corners + sizes if params["box_format"] == "xyxy" else sizes
        pred, true = np.concatenate([corners, ends], axis=-1).astype(np.float32)
        return (pred, true), params, (0, 1)
    if loss in ("dice_loss", "jaccard_loss", "lovasz_softmax_loss", "lovasz_hinge_loss"):
        images = (rng.normal(size=(rows, 3, 2, classes)) * scale).astype(np.float32)
        pixel_ids = rng.integers(0, classes, size=(rows, 3, 2))
        if draw(st.booleans(), "ignore_index"):
            params["ignore_index"] = 255
            pixel_ids[rng.random(pixel_ids.shape) < 0.3] = 255
        if loss == "lovasz_hinge_loss":
            return (images[..., 0], np.where(pixel_ids == 255, 255, pixel_ids % 2).astype(np.float32)), params, (0,)
        if loss == "lovasz_softmax_loss":
            params["classes"] = draw(st.sampled_from(["present", "all"]), "classes")
            return (images, pixel_ids), params, (0,)
        params["smooth"] = draw(st.sampled_from([1.0, 0.0]), "smooth")
        if loss == "dice_loss":
            params["alpha"], params["beta"] = draw(st.sampled_from([(0.5, 0.5), (0.3, 0.7)]), "alpha, beta")
        if labels != "ids" and "ignore_index" not in params:
            one_hot = np.eye(classes, dtype=np.float32)[pixel_ids]
            return (images, one_hot), params, (0,)
        return (images, pixel_ids), params, (0,)
    if loss == "triplet_margin_loss":
        params["swap"] = draw(st.booleans(), "swap")
        params["p"] = draw(st.sampled_from([1.0, 2.0, 3.0]), "p")
        return tuple((rng.normal(size=(3, rows, classes)) * scale).astype(np.float32)), params, (0, 1, 2)
    if loss == "contrastive_loss":
        params["margin"] = draw(st.sampled_from([0.5, 2.0]), "margin")
        return (rng.uniform(0.0, 2.0, size=x.shape).astype(np.float32), binary), params, (0,)
    if loss == "supervised_contrastive_loss":  # labels 0..rows-1 twice, one odd label
        params["temperature"] = draw(st.sampled_from([0.05, 0.5]), "temperature")
        labels = np.append(np.repeat(rng.permutation(rows), 2), rows)
        return ((rng.normal(size=(2 * rows + 1, 4)) * scale).astype(np.float32), labels), params, (0,)
    if loss == "clip_loss":
        params["temperature"] = draw(st.sampled_from([0.05, 1.0]), "temperature")
        params["normalize"] = draw(st.booleans(), "normalize")
        return tuple(rng.normal(size=(2, rows, 4)).astype(np.float32)), params, (0, 1)
    if loss == "ctc_loss":  # lengths from 0 up: empty, full and unalignable sequences
        params["blank"] = draw(st.sampled_from([0, classes - 1]), "blank")
        frames = (rng.normal(size=(rows, 4, classes)) * scale).astype(np.float32)
        labels = rng.integers(0, classes, size=(rows, 3))
        lengths = (rng.integers(0, 5, size=rows), rng.integers(0, 4, size=rows))
        return (frames, labels, *lengths), params, (0,)
    raise AssertionError(f"no random inputs for {loss}: add them here")


def unreduced_shape(loss, arrays, params) -> tuple:
    fn = frameworks.adapter_function("torch", loss)
    return tuple(fn(*(frameworks.to_tensor("torch", a) for a in arrays), reduction="none", **params).shape)


def draw_where_and_weight(data, shape: tuple):
    """``where`` and ``sample_weight`` (each absent, of the unreduced shape or of a
    lower rank) with at least one kept entry."""
    draw = data.draw
    rng = np.random.default_rng(draw(st.integers(0, 2**16), "mask seed"))
    where = weight = None
    kind = draw(st.sampled_from([None, "full", "lower"]), "where")
    if kind is not None:
        where_shape = shape if kind == "full" else shape[1:]
        where = np.asarray(rng.random(where_shape) < 0.7)
        where.reshape(-1)[0] = True
    kind = draw(st.sampled_from([None, "full", "lower"]), "sample_weight")
    if kind is not None:
        weight = rng.uniform(0.0, 3.0, shape if kind == "full" else shape[1:]).astype(np.float32)
        weight.reshape(-1)[rng.random(weight.size) < 0.2] = 0.0
    return where, weight


def run(framework, loss, arrays, grad_args, dtype=None, **params):
    """Value and gradients (NumPy float64); ``where``/``sample_weight`` as tensors."""
    fn = frameworks.adapter_function(framework, loss)
    for name in ("where", "sample_weight"):
        if params.get(name) is not None:
            params[name] = frameworks.to_tensor(framework, params[name])
    return frameworks.value_and_grad(
        framework, lambda *t: fn(*t, **params), arrays, grad_args, dtype=dtype
    )


def assert_close(got, want, rtol, what):
    got, want = np.asarray(got), np.asarray(want)
    atol = rtol * max(1.0, float(np.max(np.abs(want), initial=0.0)))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=what)


# --- the three frameworks agree ------------------------------------------------------------


@pytest.mark.parametrize("loss", REDUCED)
@FEW
@given(data=st.data())
def test_frameworks_agree_with_where_and_sample_weight(loss, data):
    arrays, params, grad_args = draw_inputs(data, loss)
    where, weight = draw_where_and_weight(data, unreduced_shape(loss, arrays, params))
    reduction = data.draw(st.sampled_from(REDUCTIONS), "reduction")
    dtype = data.draw(st.sampled_from(["float32", "float32", "float16", "bfloat16"]), "dtype")
    results = {
        framework: run(framework, loss, arrays, grad_args, dtype=dtype, where=where,
                       sample_weight=weight, reduction=reduction, **params)
        for framework in FRAMEWORKS
    }
    value, grads = results["torch"]
    assert np.all(np.isfinite(value))
    for framework in FRAMEWORKS[1:]:
        other_value, other_grads = results[framework]
        what = f"{framework} vs torch, {loss} {dtype} reduction={reduction}"
        assert other_value.shape == value.shape, what
        assert_close(other_value, value, RTOL[dtype], what)
        for got, want in zip(other_grads, grads, strict=True):
            assert np.all(np.isfinite(got)), what
            assert_close(got, want, 2 * RTOL[dtype], f"gradient: {what}")


# --- trivial masks and weights ---------------------------------------------------------------


@pytest.mark.parametrize("loss", REDUCED)
@FEW
@given(data=st.data())
def test_all_true_where_and_unit_weights_change_nothing(loss, data):
    arrays, params, grad_args = draw_inputs(data, loss)
    shape = unreduced_shape(loss, arrays, params)
    framework = data.draw(st.sampled_from(FRAMEWORKS), "framework")
    reduction = data.draw(st.sampled_from(REDUCTIONS), "reduction")
    dtype = data.draw(st.sampled_from(["float32", "bfloat16"]), "dtype")
    lower = data.draw(st.booleans(), "lower rank")
    trivial_shape = shape[1:] if lower else shape
    base = run(framework, loss, arrays, grad_args, dtype=dtype, reduction=reduction, **params)
    for label, extra in (
        ("where all true", dict(where=np.ones(trivial_shape, bool))),
        ("sample_weight ones", dict(sample_weight=np.ones(trivial_shape, np.float32))),
        ("both", dict(where=np.ones(shape, bool), sample_weight=np.ones(trivial_shape, np.float32))),
    ):
        value, grads = run(framework, loss, arrays, grad_args, dtype=dtype, reduction=reduction, **extra, **params)
        what = f"{framework} {loss} {dtype} reduction={reduction}: {label}"
        # float32 sums may be taken in another order; a half result rounds once
        rtol = 1e-6 if dtype == "float32" else RTOL[dtype]
        assert value.shape == base[0].shape, what
        assert_close(value, base[0], rtol, what)
        for got, want in zip(grads, base[1], strict=True):
            assert_close(got, want, rtol, f"gradient: {what}")


# --- special cases that are cross entropy ------------------------------------------------------


@pytest.mark.parametrize("other", ["softmax_focal_loss", "poly1_cross_entropy"])
@BOUNDED
@given(data=st.data())
def test_special_cases_equal_cross_entropy(other, data):
    """``softmax_focal_loss(gamma=0, alpha=None)`` and ``poly1_cross_entropy(epsilon=0)``
    are ``cross_entropy``: values and gradients, with ``where``/``sample_weight``."""
    arrays, _, grad_args = draw_inputs(data, "cross_entropy")
    x, targets = arrays
    if other == "softmax_focal_loss":
        params = dict(gamma=0.0, alpha=None)
        if targets.dtype.kind == "f":  # the focal loss takes ids or one-hot targets
            targets = np.eye(x.shape[-1], dtype=np.float32)[targets.argmax(-1)]
        elif data.draw(st.booleans(), "ignore_index"):
            targets = np.where(np.arange(len(targets)) == 0, -1, targets)
            params["ignore_index"] = -1
        ce_params = {k: v for k, v in params.items() if k == "ignore_index"}
    else:
        smoothing = data.draw(st.sampled_from([0.0, 0.1]), "label_smoothing")
        params = dict(epsilon=0.0, label_smoothing=smoothing)
        ce_params = dict(label_smoothing=smoothing)
    arrays = (x, targets)
    where, weight = draw_where_and_weight(data, (x.shape[0],))
    framework = data.draw(st.sampled_from(FRAMEWORKS), "framework")
    reduction = data.draw(st.sampled_from(REDUCTIONS), "reduction")
    common = dict(where=where, sample_weight=weight, reduction=reduction)
    value, grads = run(framework, other, arrays, grad_args, **common, **params)
    want, want_grads = run(framework, "cross_entropy", arrays, grad_args, **common, **ce_params)
    what = f"{framework} {other} reduction={reduction}"
    assert_close(value, want, 1e-5, what)
    for got, ref in zip(grads, want_grads, strict=True):
        assert_close(got, ref, 1e-5, f"gradient: {what}")


# --- non-negativity ---------------------------------------------------------------------------

NON_NEGATIVE = [
    "cross_entropy", "binary_cross_entropy", "sigmoid_focal_loss", "softmax_focal_loss",
    "kl_divergence", "mean_squared_error", "hinge_loss", "poly1_cross_entropy",
    "poly1_focal_loss", "mean_absolute_error", "huber_loss", "smooth_l1_loss",
    "log_cosh_loss", "quantile_loss", "squared_hinge_loss", "categorical_hinge_loss",
    "multi_margin_loss", "iou_loss", "giou_loss", "diou_loss", "ciou_loss",
    "distillation_loss", "js_divergence",
    "arcface_loss", "cosface_loss",
    "softmax_ranking_loss", "pairwise_logistic_loss", "listmle_loss",
]


@pytest.mark.parametrize("loss", NON_NEGATIVE)
@FEW
@given(data=st.data())
def test_losses_are_non_negative(loss, data):
    """Unreduced, summed and averaged (with ``where``/``sample_weight``), at scales up to
    logits of ±100. Epsilon of the poly-1 losses is >= 0 here (draw_inputs)."""
    arrays, params, grad_args = draw_inputs(data, loss)
    factor = data.draw(st.sampled_from([1.0, 25.0]), "logit factor")
    arrays = (arrays[0] * np.float32(factor),) + arrays[1:]
    where, weight = draw_where_and_weight(data, unreduced_shape(loss, arrays, params))
    framework = data.draw(st.sampled_from(FRAMEWORKS), "framework")
    for reduction in REDUCTIONS:
        value, _ = run(framework, loss, arrays, (), where=where, sample_weight=weight,
                       reduction=reduction, **params)
        assert np.all(value >= 0), f"{framework} {loss} reduction={reduction}: {value}"

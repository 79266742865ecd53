"""hinge_loss and squared_hinge_loss (float64 formulas cross-checked with
keras.losses.hinge / squared_hinge), categorical_hinge_loss
(optax.losses.multiclass_hinge_loss, float64, cross-checked with
keras.losses.categorical_hinge where they agree), multi_margin_loss and
pairwise_hinge_loss (torch.nn.functional.multi_margin_loss / margin_ranking_loss,
float64)."""

from __future__ import annotations

import numpy as np

from conformance.cases import builds, case, check_agree, jax_reference, keras_value, torch_reference


def _hinge(reduction: str):
    import torch

    def fn(y_pred, y_true):
        y = torch.where(y_true == 0, -torch.ones_like(y_true), y_true)
        return torch.relu(1 - y * y_pred).mean(-1)

    return torch_reference(fn, reduction)


@builds("hinge_loss")
def hinge_loss_cases(rng):
    import keras

    src = "float64 formula mean(max(0, 1 - y ŷ), -1) (torch autograd), equal to keras.losses.hinge"
    scores = rng.normal(scale=1.5, size=(5, 4)).astype(np.float32)
    signs = np.where(rng.random((5, 4)) > 0.5, 1.0, -1.0).astype(np.float32)
    binary = (signs > 0).astype(np.float32)
    for name, labels in (("signs", signs), ("zero_one", binary)):
        check_agree(f"hinge {name} vs keras", _hinge("none")({"y_pred": scores, "y_true": labels}, [])[0],
                    keras_value(keras.losses.hinge, labels, scores))
    for reduction in ("none", "mean", "sum"):
        yield case(
            f"labels_pm1_{reduction}", {"y_pred": scores, "y_true": signs}, {"reduction": reduction},
            _hinge(reduction), source=src,
        )
    yield case(
        "labels_01_mean", {"y_pred": scores, "y_true": binary}, {"reduction": "mean"}, _hinge("mean"),
        source=src, note="labels {0, 1} mapped to {-1, 1}",
    )
    yield case(
        "large_scores_none", {"y_pred": scores * 1e3, "y_true": signs}, {"reduction": "none"},
        _hinge("none"), source=src, note="scores ~1e3",
    )
    for dtype in ("float16", "bfloat16"):
        yield case(
            f"{dtype}_none", {"y_pred": scores, "y_true": binary}, {"reduction": "none"}, _hinge("none"),
            source=src, dtype=dtype,
        )


def _margin_ranking(margin: float, reduction: str):
    import torch
    import torch.nn.functional as F

    def fn(pos_score, neg_score):
        return F.margin_ranking_loss(pos_score, neg_score, torch.ones_like(pos_score), margin=margin, reduction=reduction)

    return torch_reference(fn)


@builds("pairwise_hinge_loss")
def pairwise_hinge_loss_cases(rng):
    src = "torch.nn.functional.margin_ranking_loss(pos, neg, 1) (float64)"
    pos = rng.normal(size=8).astype(np.float32)
    neg = rng.normal(size=8).astype(np.float32)
    both = ["pos_score", "neg_score"]
    inputs = {"pos_score": pos, "neg_score": neg}
    for reduction in ("none", "mean", "sum"):
        yield case(
            f"typical_{reduction}", inputs, {"reduction": reduction}, _margin_ranking(1.0, reduction),
            source=src, wrt=both,
        )
    yield case(
        "margin_0.3_none", inputs, {"margin": 0.3, "reduction": "none"}, _margin_ranking(0.3, "none"),
        source=src, wrt=both,
    )
    pos2, neg2 = rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=(4, 3)).astype(np.float32)
    yield case(
        "rank2_mean", {"pos_score": pos2, "neg_score": neg2}, {"margin": 0.5, "reduction": "mean"},
        _margin_ranking(0.5, "mean"), source=src, wrt=both,
    )
    yield case(
        "large_scores_sum", {"pos_score": pos * 1e3, "neg_score": neg * 1e3}, {"margin": 10.0, "reduction": "sum"},
        _margin_ranking(10.0, "sum"), source=src, wrt=both, note="scores ~1e3",
    )
    for dtype in ("float16", "bfloat16"):
        yield case(
            f"{dtype}_none", inputs, {"reduction": "none"}, _margin_ranking(1.0, "none"),
            source=src, dtype=dtype, wrt=both,
        )


def _squared_hinge(reduction: str):
    import torch

    def fn(y_pred, y_true):
        y = torch.where(y_true == 0, -torch.ones_like(y_true), y_true)
        return torch.relu(1 - y * y_pred).square().mean(-1)

    return torch_reference(fn, reduction)


@builds("squared_hinge_loss")
def squared_hinge_loss_cases(rng):
    import keras

    src = "float64 formula mean(max(0, 1 - y ŷ)², -1) (torch autograd), equal to keras.losses.squared_hinge"
    scores = rng.normal(scale=1.5, size=(5, 4)).astype(np.float32)
    signs = np.where(rng.random((5, 4)) > 0.5, 1.0, -1.0).astype(np.float32)
    binary = (signs > 0).astype(np.float32)
    for name, labels in (("signs", signs), ("zero_one", binary)):
        check_agree(f"squared hinge {name} vs keras", _squared_hinge("none")({"y_pred": scores, "y_true": labels}, [])[0],
                    keras_value(keras.losses.squared_hinge, labels, scores))
    for reduction in ("none", "mean", "sum"):
        yield case(
            f"labels_pm1_{reduction}", {"y_pred": scores, "y_true": signs}, {"reduction": reduction},
            _squared_hinge(reduction), source=src,
        )
    yield case(
        "labels_01_mean", {"y_pred": scores, "y_true": binary}, {"reduction": "mean"}, _squared_hinge("mean"),
        source=src, note="labels {0, 1} mapped to {-1, 1}",
    )
    yield case(
        "rank3_none", {"y_pred": rng.normal(size=(2, 3, 4)).astype(np.float32),
                       "y_true": np.where(rng.random((2, 3, 4)) > 0.5, 1.0, -1.0).astype(np.float32)},
        {"reduction": "none"}, _squared_hinge("none"), source=src,
    )
    yield case(
        "large_scores_none", {"y_pred": scores * 1e3, "y_true": signs}, {"reduction": "none"},
        _squared_hinge("none"), source=src, note="scores ~1e3",
    )
    for dtype in ("float16", "bfloat16"):
        yield case(
            f"{dtype}_none", {"y_pred": scores, "y_true": binary}, {"reduction": "none"}, _squared_hinge("none"),
            source=src, dtype=dtype,
        )


def _optax_multiclass_hinge(reduction: str):
    import jax.numpy as jnp
    import optax

    def fn(y_pred, y_true):
        labels = y_true.argmax(-1) if y_true.ndim == y_pred.ndim else y_true  # one-hot: their ids
        loss = optax.losses.multiclass_hinge_loss(y_pred, labels)
        return {"none": loss, "mean": jnp.mean(loss), "sum": jnp.sum(loss)}[reduction]

    return jax_reference(fn)


@builds("categorical_hinge_loss")
def categorical_hinge_loss_cases(rng):
    import keras

    src = "optax.losses.multiclass_hinge_loss (float64, jax.grad)"
    scores = rng.normal(scale=1.5, size=(6, 5)).astype(np.float32)
    ids = rng.integers(0, 5, size=6)
    scores[0, ids[0]] += 4.0  # this example has met the margin: loss 0, zero gradient
    one_hot = np.eye(5, dtype=np.float32)[ids]
    ref = _optax_multiclass_hinge("none")({"y_pred": scores, "y_true": ids}, [])[0]
    other_max = np.where(one_hot > 0, -np.inf, scores).max(-1)
    agrees = other_max >= 0  # Keras counts the target slot as a score of 0
    keras_ref = keras_value(keras.losses.categorical_hinge, one_hot, scores)
    check_agree("categorical hinge vs keras (a non-target score >= 0)", ref[agrees], keras_ref[agrees])
    for reduction in ("none", "mean", "sum"):
        yield case(
            f"ids_{reduction}", {"y_pred": scores, "y_true": ids}, {"reduction": reduction},
            _optax_multiclass_hinge(reduction), source=src,
        )
    yield case(
        "one_hot_none", {"y_pred": scores, "y_true": one_hot}, {"reduction": "none"},
        _optax_multiclass_hinge("none"), source=src, note="one-hot targets (optax given their ids)",
    )
    yield case(
        "rank3_ids_mean", {"y_pred": rng.normal(size=(2, 3, 4)).astype(np.float32),
                           "y_true": rng.integers(0, 4, size=(2, 3))},
        {"reduction": "mean"}, _optax_multiclass_hinge("mean"), source=src,
    )
    yield case(
        "large_scores_none", {"y_pred": scores * 1e3, "y_true": ids}, {"reduction": "none"},
        _optax_multiclass_hinge("none"), source=src, note="scores ~1e3",
    )
    yield case(
        "one_class_none", {"y_pred": scores[:, :1].copy(), "y_true": np.zeros(6, np.int64)},
        {"reduction": "none"}, _optax_multiclass_hinge("none"), source=src,
        note="one class: no other score, loss 0",
    )
    for dtype in ("float16", "bfloat16"):
        yield case(
            f"{dtype}_ids_none", {"y_pred": scores, "y_true": ids}, {"reduction": "none"},
            _optax_multiclass_hinge("none"), source=src, dtype=dtype,
        )
        yield case(
            f"{dtype}_one_hot_mean", {"y_pred": scores, "y_true": one_hot}, {"reduction": "mean"},
            _optax_multiclass_hinge("mean"), source=src, dtype=dtype,
        )


def _torch_multi_margin(p: int, margin: float, class_weight, reduction: str):
    import torch
    import torch.nn.functional as F

    def fn(y_pred, y_true):
        classes = y_pred.shape[-1]
        labels = y_true.argmax(-1) if y_true.dtype.is_floating_point else y_true
        weight = None if class_weight is None else torch.tensor(class_weight, dtype=torch.float64)
        loss = F.multi_margin_loss(
            y_pred.reshape(-1, classes), labels.reshape(-1), p=p, margin=margin, weight=weight,
            reduction="none",
        ).reshape(labels.shape)
        return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]

    return torch_reference(fn)


@builds("multi_margin_loss")
def multi_margin_loss_cases(rng):
    src = "torch.nn.functional.multi_margin_loss(reduction='none') (float64)"
    scores = rng.normal(scale=1.5, size=(6, 5)).astype(np.float32)
    ids = rng.integers(0, 5, size=6)
    one_hot = np.eye(5, dtype=np.float32)[ids]
    weight = [0.5, 2.0, 1.0, 0.25, 1.5]
    inputs = {"y_pred": scores, "y_true": ids}
    for reduction in ("none", "mean", "sum"):
        yield case(
            f"default_{reduction}", inputs, {"reduction": reduction},
            _torch_multi_margin(1, 1.0, None, reduction), source=src,
        )
    yield case(
        "p2_margin_0.5_none", inputs, {"p": 2, "margin": 0.5, "reduction": "none"},
        _torch_multi_margin(2, 0.5, None, "none"), source=src,
    )
    for p in (1, 2):
        yield case(
            f"p{p}_class_weight_mean", inputs, {"p": p, "class_weight": weight, "reduction": "mean"},
            _torch_multi_margin(p, 1.0, weight, "mean"), source=src,
            note="mean over examples (torch does not divide by the weights)",
        )
    yield case(
        "one_hot_class_weight_none", {"y_pred": scores, "y_true": one_hot},
        {"p": 2, "margin": 2.0, "class_weight": weight, "reduction": "none"},
        _torch_multi_margin(2, 2.0, weight, "none"), source=src, note="one-hot targets (torch given their ids)",
    )
    yield case(
        "rank3_sum", {"y_pred": rng.normal(size=(2, 3, 4)).astype(np.float32),
                      "y_true": rng.integers(0, 4, size=(2, 3))},
        {"reduction": "sum"}, _torch_multi_margin(1, 1.0, None, "sum"), source=src,
        note="[2, 3, 4] scores as torch's [6, 4]",
    )
    yield case(
        "large_scores_p2_none", {"y_pred": scores * 1e3, "y_true": ids}, {"p": 2, "margin": 100.0, "reduction": "none"},
        _torch_multi_margin(2, 100.0, None, "none"), source=src, note="scores ~1e3",
    )
    for dtype in ("float16", "bfloat16"):
        yield case(
            f"{dtype}_none", inputs, {"reduction": "none"}, _torch_multi_margin(1, 1.0, None, "none"),
            source=src, dtype=dtype,
        )
        yield case(
            f"{dtype}_p2_class_weight_mean", inputs, {"p": 2, "class_weight": weight, "reduction": "mean"},
            _torch_multi_margin(2, 1.0, weight, "mean"), source=src, dtype=dtype,
        )

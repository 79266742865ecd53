"""hinge_loss (float64 formula cross-checked with keras.losses.hinge) and
pairwise_hinge_loss (torch.nn.functional.margin_ranking_loss, float64)."""

from __future__ import annotations

import numpy as np

from conformance.cases import builds, case, check_agree, keras_value, torch_reference


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

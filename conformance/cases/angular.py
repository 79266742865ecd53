"""arcface_loss and cosface_loss: float64 torch ports of InsightFace's margin heads
followed by ``torch.nn.functional.cross_entropy`` (torch autograd for the gradients),
cross-checked with pytorch-metric-learning's ``ArcFaceLoss`` / ``CosFaceLoss`` on the
cosines of random embeddings and class weights.

The ports follow ``recognition/arcface_torch/losses.py`` of
https://github.com/deepinsight/insightface (MIT License; the ``ArcFace`` head of commit
eca1d9a: ``cos(θ + m) = cos θ cos m − sin θ sin m`` with ``sin θ = sqrt(1 − cos²θ)``,
and ``cos θ − sin(π − m)·m`` where ``cos θ ≤ cos(π − m)``; ``CosFace``: ``cos θ − m``)
and, for ``easy_margin``, ``ArcMarginProduct`` of
https://github.com/ronghuaiyang/arcface-pytorch (``phi = where(cos > 0, phi, cos)``;
its ``sqrt((1 − cos²).clamp(0, 1))`` is used for the sine in both). Their gradient is
infinite at ``cos θ_t = ±1``, so the cases keep the target cosines inside (−1, 1);
``tests/test_angular.py`` checks the ends.
"""

from __future__ import annotations

import math

import numpy as np

from conformance.cases import builds, case, check_agree, torch_reference

SRC_ARC = (
    "InsightFace arcface_torch ArcFace head (threshold rule) + "
    "torch.nn.functional.cross_entropy, float64 torch autograd"
)
SRC_EASY = (
    "ArcMarginProduct (arcface-pytorch, easy_margin=True) + "
    "torch.nn.functional.cross_entropy, float64 torch autograd"
)
SRC_COS = (
    "InsightFace arcface_torch CosFace head + torch.nn.functional.cross_entropy, "
    "float64 torch autograd"
)


#: Just inside θ_t + m = π the slope ∂cos(θ_t + m)/∂cos θ_t = sin(θ_t + m)/sin θ_t is
#: cos m + sin m·cos θ_t/sin θ_t, two terms of ~0.88 that cancel to ~0.005: float32
#: keeps a few 1e-5 of it (relative), whatever the formula.
EDGE_GRAD_TOL = {"rtol": 1e-4, "atol": 1e-5}
EDGE_NOTE = "Gradient rtol 1e-4: the slope at cos(π − m) + 1e-3 is a float32 cancellation"


def arcface_logits(cosines, labels, scale, margin, easy_margin=False):
    """InsightFace's ArcFace head (ArcMarginProduct's rule with ``easy_margin``) on a
    float64 torch cosine matrix ``[B, C]``: the scaled logits."""
    import torch

    cos_m, sin_m = math.cos(margin), math.sin(margin)
    threshold = math.cos(math.pi - margin)
    sinmm = math.sin(math.pi - margin) * margin
    target = cosines.gather(1, labels[:, None])[:, 0]
    sine = torch.sqrt((1.0 - target * target).clamp(0, 1))
    phi = target * cos_m - sine * sin_m
    if easy_margin:
        phi = torch.where(target > 0, phi, target)
    else:
        phi = torch.where(target > threshold, phi, target - sinmm)
    is_target = torch.nn.functional.one_hot(labels, cosines.shape[1]).bool()
    return scale * torch.where(is_target, phi[:, None], cosines)


def cosface_logits(cosines, labels, scale, margin):
    """InsightFace's CosFace head: ``s · (cos θ − m·one_hot)``."""
    import torch

    one_hot = torch.nn.functional.one_hot(labels, cosines.shape[1]).to(cosines.dtype)
    return scale * (cosines - margin * one_hot)


def _arcface(reduction="none", scale=64.0, margin=0.5, easy_margin=False):
    import torch.nn.functional as F

    def fn(y_pred, y_true):
        logits = arcface_logits(y_pred, y_true, scale, margin, easy_margin)
        return F.cross_entropy(logits, y_true, reduction="none")

    return torch_reference(fn, reduction)


def _cosface(reduction="none", scale=64.0, margin=0.35):
    import torch.nn.functional as F

    def fn(y_pred, y_true):
        return F.cross_entropy(cosface_logits(y_pred, y_true, scale, margin), y_true, reduction="none")

    return torch_reference(fn, reduction)


def embedding_cosines(rng, batch=8, dim=16, classes=10):
    """``(cosines, labels, embeddings, weights)``: the cosines of random embeddings
    ``[B, D]`` and class weights ``[D, C]`` (both normalised, float64), correlated with
    the labels so the targets are mostly the largest cosines."""
    labels = rng.integers(0, classes, size=batch)
    weights = rng.normal(size=(dim, classes))
    embeddings = rng.normal(size=(batch, dim)) + 1.5 * weights[:, labels].T
    cosines = (embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)) @ (
        weights / np.linalg.norm(weights, axis=0, keepdims=True)
    )
    return cosines, labels, embeddings, weights


def pml_per_example(loss_cls, embeddings, weights, labels, **kwargs):
    """pytorch-metric-learning's per-example loss (float64, no reduction)."""
    import torch
    from pytorch_metric_learning.reducers import DoNothingReducer

    loss = loss_cls(
        num_classes=weights.shape[1], embedding_size=weights.shape[0],
        reducer=DoNothingReducer(), **kwargs,
    ).double()
    with torch.no_grad():
        loss.W.copy_(torch.tensor(weights))
    out = loss(torch.tensor(embeddings), torch.tensor(labels))
    return out["loss"]["losses"].detach().numpy()


def _cross_check(name, reference, cosines, labels, peer):
    inputs = {"y_pred": cosines, "y_true": labels}
    check_agree(name, reference(inputs, [])[0], peer, rtol=1e-9, atol=1e-10)


def targets_at(rng, values, classes=6):
    """Cosines ``[len(values), classes]`` in (−1, 1) whose target cosines are ``values``."""
    values = np.asarray(values, np.float32)
    labels = rng.integers(0, classes, size=len(values))
    cosines = rng.uniform(-0.9, 0.9, size=(len(values), classes)).astype(np.float32)
    cosines[np.arange(len(values)), labels] = values
    return cosines, labels


def confident_rows(rng):
    """Target cosines near 1, every other cosine −0.9: logit gaps ~100 at s = 64."""
    cosines, labels = targets_at(rng, [0.999, 0.99, 0.95, 0.9], classes=5)
    others = np.ones(cosines.shape, bool)
    others[np.arange(len(labels)), labels] = False
    cosines[others] = -0.9
    return cosines, labels


@builds("arcface_loss")
def arcface_loss_cases(rng):
    from pytorch_metric_learning.losses import ArcFaceLoss

    cos64, labels, embeddings, weights = embedding_cosines(rng)
    for margin in (0.5, 0.3):
        peer = pml_per_example(ArcFaceLoss, embeddings, weights, labels, margin=math.degrees(margin), scale=64)
        _cross_check(f"arcface m={margin} vs pytorch-metric-learning", _arcface(margin=margin), cos64, labels, peer)
    cosines = cos64.astype(np.float32)
    inputs = {"y_pred": cosines, "y_true": labels}
    for reduction in ("none", "mean", "sum"):
        yield case(f"default_{reduction}", inputs, {"reduction": reduction}, _arcface(reduction),
                   source=SRC_ARC, note="s=64, m=0.5; cosines of random embeddings and class weights")
    yield case("scale_30_margin_0.3", inputs, {"scale": 30.0, "margin": 0.3, "reduction": "none"},
               _arcface(scale=30.0, margin=0.3), source=SRC_ARC)
    yield case("margin_0_is_normface", inputs, {"margin": 0.0, "scale": 16.0, "reduction": "none"},
               _arcface(scale=16.0, margin=0.0), source=SRC_ARC, note="m=0: softmax CE of s·cos")
    yield case("margin_pi_over_2", inputs, {"margin": math.pi / 2, "reduction": "mean"},
               _arcface("mean", margin=math.pi / 2), source=SRC_ARC, note="the largest margin allowed")
    # The threshold branch: θ_t + m > π, i.e. cos θ_t <= cos(π − m) = −0.8776 for m = 0.5.
    edge = math.cos(math.pi - 0.5)
    threshold_cos, threshold_labels = targets_at(
        rng, [-0.99, -0.95, -0.9, edge - 1e-3, edge + 1e-3, -0.5, 0.2, 0.9, 0.98, -0.97]
    )
    threshold_inputs = {"y_pred": threshold_cos, "y_true": threshold_labels}
    yield case("threshold_branch_none", threshold_inputs, {"reduction": "none"}, _arcface(),
               source=SRC_ARC, grad_tol=EDGE_GRAD_TOL,
               note="targets on both sides of cos(π − m); s=64, m=0.5. " + EDGE_NOTE)
    yield case("threshold_branch_margin_1.2", threshold_inputs, {"margin": 1.2, "scale": 8.0, "reduction": "sum"},
               _arcface("sum", scale=8.0, margin=1.2), source=SRC_ARC, note="cos(π − 1.2) = −0.362")
    # easy_margin: the margin only where cos θ_t > 0
    easy_cos, easy_labels = targets_at(rng, [-0.99, -0.6, -0.1, -1e-3, 1e-3, 0.3, 0.7, 0.98])
    easy_inputs = {"y_pred": easy_cos, "y_true": easy_labels}
    for reduction in ("none", "mean"):
        yield case(f"easy_margin_{reduction}", easy_inputs, {"easy_margin": True, "reduction": reduction},
                   _arcface(reduction, easy_margin=True), source=SRC_EASY)
    yield case("easy_margin_on_embeddings", inputs, {"easy_margin": True, "scale": 30.0, "reduction": "none"},
               _arcface(scale=30.0, easy_margin=True), source=SRC_EASY)
    # large magnitudes: confident rows (p_t → 1) and a large scale
    confident, confident_labels = confident_rows(rng)
    yield case("confident_rows_none", {"y_pred": confident, "y_true": confident_labels}, {"reduction": "none"},
               _arcface(), source=SRC_ARC, note="logit gaps ~100: p_t rounds to 1 in float32")
    yield case("scale_1000_none", inputs, {"scale": 1000.0, "reduction": "none"}, _arcface(scale=1000.0),
               source=SRC_ARC, note="logits up to 1000: log-space cross entropy")
    big_cos, big_labels, _, _ = embedding_cosines(rng, batch=8, dim=8, classes=100)
    yield case("100_classes_mean", {"y_pred": big_cos.astype(np.float32), "y_true": big_labels},
               {"reduction": "mean"}, _arcface("mean"), source=SRC_ARC)
    yield case("labels_b1", {"y_pred": cosines, "y_true": labels[:, None]}, {"reduction": "none"},
               _arcface_b1(), source=SRC_ARC, note="y_true [B, 1]")
    for dtype in ("float16", "bfloat16"):
        yield case(f"{dtype}_none", inputs, {"reduction": "none"}, _arcface(), source=SRC_ARC, dtype=dtype,
                   note="computed in float32; s=64")
        yield case(f"{dtype}_threshold_mean", threshold_inputs, {"reduction": "mean"}, _arcface("mean"),
                   source=SRC_ARC, dtype=dtype)
        yield case(f"{dtype}_easy_margin_sum", easy_inputs, {"easy_margin": True, "reduction": "sum"},
                   _arcface("sum", easy_margin=True), source=SRC_EASY, dtype=dtype)


def _arcface_b1():
    import torch.nn.functional as F

    def fn(y_pred, y_true):
        labels = y_true[:, 0]
        return F.cross_entropy(arcface_logits(y_pred, labels, 64.0, 0.5), labels, reduction="none")

    return torch_reference(fn)


@builds("cosface_loss")
def cosface_loss_cases(rng):
    from pytorch_metric_learning.losses import CosFaceLoss

    cos64, labels, embeddings, weights = embedding_cosines(rng)
    peer = pml_per_example(CosFaceLoss, embeddings, weights, labels, margin=0.35, scale=64)
    _cross_check("cosface vs pytorch-metric-learning", _cosface(), cos64, labels, peer)
    cosines = cos64.astype(np.float32)
    inputs = {"y_pred": cosines, "y_true": labels}
    for reduction in ("none", "mean", "sum"):
        yield case(f"default_{reduction}", inputs, {"reduction": reduction}, _cosface(reduction),
                   source=SRC_COS, note="s=64, m=0.35; cosines of random embeddings and class weights")
    yield case("insightface_defaults", inputs, {"margin": 0.4, "reduction": "none"}, _cosface(margin=0.4),
               source=SRC_COS, note="InsightFace's CosFace(s=64, m=0.4)")
    yield case("scale_30_margin_0.2", inputs, {"scale": 30.0, "margin": 0.2, "reduction": "none"},
               _cosface(scale=30.0, margin=0.2), source=SRC_COS)
    yield case("margin_0", inputs, {"margin": 0.0, "scale": 16.0, "reduction": "mean"},
               _cosface("mean", scale=16.0, margin=0.0), source=SRC_COS)
    ends, end_labels = targets_at(rng, [-1.0, -0.999, 0.0, 0.999, 1.0, 0.5])
    yield case("targets_at_the_ends", {"y_pred": ends, "y_true": end_labels}, {"reduction": "none"}, _cosface(),
               source=SRC_COS, note="target cosines ±1 (no square root: smooth there)")
    confident, confident_labels = confident_rows(rng)
    yield case("confident_rows_none", {"y_pred": confident, "y_true": confident_labels}, {"reduction": "none"},
               _cosface(), source=SRC_COS, note="logit gaps ~100: p_t rounds to 1 in float32")
    yield case("scale_1000_none", inputs, {"scale": 1000.0, "reduction": "none"}, _cosface(scale=1000.0),
               source=SRC_COS, note="logits up to 1000: log-space cross entropy")
    for dtype in ("float16", "bfloat16"):
        yield case(f"{dtype}_none", inputs, {"reduction": "none"}, _cosface(), source=SRC_COS, dtype=dtype,
                   note="computed in float32; s=64")
        yield case(f"{dtype}_ends_mean", {"y_pred": ends, "y_true": end_labels}, {"reduction": "mean"},
                   _cosface("mean"), source=SRC_COS, dtype=dtype)

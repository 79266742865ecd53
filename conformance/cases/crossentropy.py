"""cross_entropy and binary_cross_entropy, from torch.nn.functional in float64."""

from __future__ import annotations

import numpy as np

from conformance.cases import builds, case, check_agree, torch_reference

SEED_LOGITS = np.array([[2.0, 0.5, 1.0], [0.1, 1.0, 3.0]], np.float32)
SEED_LABELS = np.array([1, 2])


def _torch_ce(reduction: str, weight=None, ignore_index=-100, label_smoothing=0.0, from_logits=True):
    import torch
    import torch.nn.functional as F

    def fn(y_pred, y_true):
        w = None if weight is None else torch.tensor(weight, dtype=torch.float64)
        if y_pred.ndim > 1:  # torch wants the classes on axis 1
            y_pred = torch.movedim(y_pred, -1, 1)
            if y_true.is_floating_point():
                y_true = torch.movedim(y_true, -1, 1)
        if not from_logits:
            probs = y_pred / y_pred.sum(1, keepdim=True)
            return F.nll_loss(torch.log(probs), y_true, weight=w, ignore_index=ignore_index, reduction=reduction)
        return F.cross_entropy(
            y_pred, y_true, weight=w, ignore_index=ignore_index,
            label_smoothing=label_smoothing, reduction=reduction,
        )

    return torch_reference(fn)


@builds("cross_entropy")
def cross_entropy_cases(rng):
    src = "torch.nn.functional.cross_entropy (float64)"
    yield case(
        "api_reference", {"y_pred": SEED_LOGITS, "y_true": SEED_LABELS}, {"reduction": "none"},
        _torch_ce("none"), source="API.md reference values, the PolyLoss authors' TensorFlow code (value); " + src + " (gradient)",
        expected_value=[1.9643688, 0.17425454],
    )
    logits = rng.normal(scale=2.0, size=(6, 5)).astype(np.float32)
    labels = rng.integers(0, 5, size=6)
    labels[:2] = 3
    weights = [0.2, 1.0, 3.0, 0.5, 1.5]
    inputs = {"y_pred": logits, "y_true": labels}
    for reduction in ("none", "mean", "sum"):
        yield case(f"typical_{reduction}", inputs, {"reduction": reduction}, _torch_ce(reduction), source=src)
    yield case(
        "class_weight_mean", inputs, {"class_weight": weights, "reduction": "mean"},
        _torch_ce("mean", weight=weights), source=src,
        note="mean divides by the summed weights of the targets",
    )
    yield case(
        "label_smoothing_none", inputs, {"label_smoothing": 0.2, "reduction": "none"},
        _torch_ce("none", label_smoothing=0.2), source=src,
    )
    yield case(
        "ignore_index_weight_smoothing_mean", inputs,
        {"ignore_index": 3, "class_weight": weights, "label_smoothing": 0.1, "reduction": "mean"},
        _torch_ce("mean", weight=weights, ignore_index=3, label_smoothing=0.1), source=src,
    )
    yield case(
        "ignore_index_none", inputs, {"ignore_index": 3, "reduction": "none"},
        _torch_ce("none", ignore_index=3), source=src, note="ignored targets give 0",
    )
    all_ignored = {"y_pred": logits[:3], "y_true": np.full(3, -100)}
    yield case(
        "all_ignored_mean", all_ignored,
        {"ignore_index": -100, "class_weight": weights, "reduction": "mean"},
        torch_reference(lambda y_pred, y_true: (y_pred * 0.0).sum()),
        source="API.md contract: 0 with a zero gradient (torch returns NaN)",
    )
    target = rng.dirichlet(np.ones(5), size=6).astype(np.float32)
    yield case(
        "probability_targets_weight_smoothing", {"y_pred": logits, "y_true": target},
        {"class_weight": weights, "label_smoothing": 0.25, "reduction": "mean"},
        _torch_ce("mean", weight=weights, label_smoothing=0.25), source=src,
        wrt=["y_pred", "y_true"],
    )
    logits3 = rng.normal(size=(3, 4, 5)).astype(np.float32)
    labels3 = rng.integers(0, 4, size=(3, 5))

    def class_axis_1(y_pred, y_true):
        import torch.nn.functional as F

        return F.cross_entropy(y_pred, y_true, reduction="none")

    yield case(
        "class_axis_1", {"y_pred": logits3, "y_true": labels3}, {"axis": 1, "reduction": "none"},
        torch_reference(class_axis_1), source=src,
    )
    probs = rng.dirichlet(np.ones(5), size=6).astype(np.float32)
    yield case(
        "from_probabilities", {"y_pred": probs, "y_true": labels}, {"from_logits": False, "reduction": "none"},
        _torch_ce("none", from_logits=False), source="torch.nn.functional.nll_loss(log p) (float64)",
    )
    large = (rng.normal(size=(6, 5)) * 1e3).astype(np.float32)
    large[0, 0], large[1, 3] = 1e4, -1e4
    yield case(
        "large_logits_mean", {"y_pred": large, "y_true": labels}, {"label_smoothing": 0.1, "reduction": "mean"},
        _torch_ce("mean", label_smoothing=0.1), source=src, note="logits up to 1e4 in float32",
    )
    for dtype in ("float16", "bfloat16"):
        yield case(
            f"{dtype}_weight_none", inputs, {"class_weight": weights, "reduction": "none"},
            _torch_ce("none", weight=weights), source=src, dtype=dtype,
        )
        yield case(
            f"{dtype}_large_logits_mean", {"y_pred": large / 100.0, "y_true": labels},
            {"reduction": "mean"}, _torch_ce("mean"), source=src, dtype=dtype,
            note="logits up to 100",
        )


def _balanced_bce(alpha, label_smoothing=0.0, reduction="none"):
    """-α y log σ(x) - (1 - α)(1 - y) log(1 - σ(x)) as a float64 torch formula."""
    import torch.nn.functional as F

    def fn(y_pred, y_true):
        y = y_true * (1 - label_smoothing) + 0.5 * label_smoothing
        return -alpha * y * F.logsigmoid(y_pred) - (1 - alpha) * (1 - y) * F.logsigmoid(-y_pred)

    return torch_reference(fn, reduction)


def _torch_bce(reduction: str, label_smoothing=0.0, from_logits=True):
    import torch.nn.functional as F

    def fn(y_pred, y_true):
        y = y_true * (1 - label_smoothing) + 0.5 * label_smoothing
        if from_logits:
            return F.binary_cross_entropy_with_logits(y_pred, y, reduction=reduction)
        return F.binary_cross_entropy(y_pred, y, reduction=reduction)

    return torch_reference(fn)


@builds("binary_cross_entropy")
def binary_cross_entropy_cases(rng):
    src = "torch.nn.functional.binary_cross_entropy_with_logits (float64)"
    logits = rng.normal(scale=3.0, size=(5, 4)).astype(np.float32)
    hard = (rng.random((5, 4)) > 0.5).astype(np.float32)
    soft = rng.random((5, 4)).astype(np.float32)
    inputs = {"y_pred": logits, "y_true": hard}
    for reduction in ("none", "mean", "sum"):
        yield case(f"typical_{reduction}", inputs, {"reduction": reduction}, _torch_bce(reduction), source=src)
    yield case(
        "soft_targets_none", {"y_pred": logits, "y_true": soft}, {"reduction": "none"},
        _torch_bce("none"), source=src, wrt=["y_pred", "y_true"],
    )
    yield case(
        "label_smoothing_sum", inputs, {"label_smoothing": 0.1, "reduction": "sum"},
        _torch_bce("sum", label_smoothing=0.1), source=src + " on targets y(1-ε)+ε/2 (Keras' smoothing)",
    )
    formula = "float64 formula -α y log σ(x) - (1-α)(1-y) log(1-σ(x)) (torch autograd)"
    # Cross-check the balanced formula against torch's weighted BCE for hard labels.
    import torch
    import torch.nn.functional as F

    x, y = torch.tensor(logits, dtype=torch.float64), torch.tensor(hard, dtype=torch.float64)
    torch_weighted = F.binary_cross_entropy_with_logits(x, y, weight=0.25 * y + 0.75 * (1 - y), reduction="none")
    check_agree("balanced BCE", _balanced_bce(0.25)(inputs, [])[0], torch_weighted.numpy())
    yield case(
        "alpha_none", inputs, {"alpha": 0.25, "reduction": "none"}, _balanced_bce(0.25), source=formula,
        note="equals torch BCE with weight α y + (1-α)(1-y) for hard labels",
    )
    yield case(
        "alpha_smoothing_soft_mean", {"y_pred": logits, "y_true": soft},
        {"alpha": 0.9, "label_smoothing": 0.2, "reduction": "mean"},
        _balanced_bce(0.9, 0.2, "mean"), source=formula,
    )
    extreme = np.array([[-1e4, -100.0, -30.0, 0.0], [30.0, 100.0, 1e4, -17.0]], np.float32)
    targets = np.array([[1.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 0.5]], np.float32)
    yield case(
        "large_logits_none", {"y_pred": extreme, "y_true": targets}, {"reduction": "none"},
        _torch_bce("none"), source=src, note="exact for logits up to 1e4",
    )
    yield case(
        "large_logits_alpha_none", {"y_pred": extreme, "y_true": targets}, {"alpha": 0.25, "reduction": "none"},
        _balanced_bce(0.25), source=formula,
    )
    probs = rng.uniform(0.02, 0.98, size=(5, 4)).astype(np.float32)
    yield case(
        "from_probabilities_mean", {"y_pred": probs, "y_true": hard}, {"from_logits": False, "reduction": "mean"},
        _torch_bce("mean", from_logits=False), source="torch.nn.functional.binary_cross_entropy (float64)",
    )
    edge = probs.copy()
    edge[0, :2], edge[1, :2] = 0.0, 1.0
    yield case(
        "from_probabilities_saturated_none", {"y_pred": edge, "y_true": hard},
        {"from_logits": False, "reduction": "none"},
        _torch_bce("none", from_logits=False), source="torch.nn.functional.binary_cross_entropy (float64)",
        wrt=[], note="logs clamped at -100 as torch; gradients at p in {0, 1} not compared",
    )
    logits3 = rng.normal(size=(2, 3, 4)).astype(np.float32)
    hard3 = (rng.random((2, 3, 4)) > 0.5).astype(np.float32)
    for dtype in ("float16", "bfloat16"):
        yield case(
            f"{dtype}_none", {"y_pred": logits3 * 4, "y_true": hard3}, {"reduction": "none"},
            _torch_bce("none"), source=src, dtype=dtype,
        )
        yield case(
            f"{dtype}_alpha_mean", inputs, {"alpha": 0.25, "reduction": "mean"},
            _balanced_bce(0.25, reduction="mean"), source=formula, dtype=dtype,
        )


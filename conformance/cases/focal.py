"""sigmoid_focal_loss (optax.losses.sigmoid_focal_loss, float64, cross-checked with the
torchvision formula) and softmax_focal_loss (float64 formula, cross-checked with
torch cross_entropy at gamma=0 and keras.losses.categorical_focal_crossentropy)."""

from __future__ import annotations

import numpy as np

from conformance.cases import builds, case, check_agree, jax_reference, keras_value, torch_reference

SEED_LOGITS = np.array([[2.0, 0.5, 1.0], [0.1, 1.0, 3.0]], np.float32)
SEED_LABELS = np.array([1, 2])
SEED_ALPHA = [0.25, 0.75, 0.75]


def optax_sigmoid_focal(alpha, gamma, reduction="none", normalizer=None):
    """optax' element-wise sigmoid focal loss (log space), divided by max(normalizer, 1)."""
    import jax.numpy as jnp
    import optax

    def fn(y_pred, y_true):
        loss = optax.losses.sigmoid_focal_loss(y_pred, y_true, alpha=None, gamma=gamma)
        if alpha is not None:  # scalar or per class (last axis)
            a = jnp.asarray(alpha, jnp.float64)
            loss = (a * y_true + (1 - a) * (1 - y_true)) * loss
        if normalizer is not None:
            loss = loss / jnp.maximum(jnp.asarray(normalizer, jnp.float64), 1.0)
        return {"none": loss, "mean": jnp.mean(loss), "sum": jnp.sum(loss)}[reduction]

    return jax_reference(fn)


def torchvision_sigmoid_focal(x, y, alpha, gamma):
    """torchvision.ops.sigmoid_focal_loss, written out (torchvision is not a dependency)."""
    import torch.nn.functional as F

    p = x.sigmoid()
    ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce * (1 - p_t) ** gamma
    return loss if alpha is None else (alpha * y + (1 - alpha) * (1 - y)) * loss


@builds("sigmoid_focal_loss")
def sigmoid_focal_loss_cases(rng):
    import torch

    src = "optax.losses.sigmoid_focal_loss (float64, jax.grad) with α_t = α y + (1-α)(1-y)"
    logits = rng.normal(scale=3.0, size=(5, 4)).astype(np.float32)
    hard = (rng.random((5, 4)) > 0.7).astype(np.float32)
    soft = rng.random((5, 4)).astype(np.float32)
    inputs = {"y_pred": logits, "y_true": hard}
    tv = torchvision_sigmoid_focal(torch.tensor(logits, dtype=torch.float64), torch.tensor(hard, dtype=torch.float64), 0.25, 2.0)
    check_agree("sigmoid focal vs torchvision formula", optax_sigmoid_focal(0.25, 2.0)(inputs, [])[0], tv.numpy())
    for reduction in ("none", "mean", "sum"):
        yield case(
            f"default_{reduction}", inputs, {"reduction": reduction}, optax_sigmoid_focal(0.25, 2.0, reduction),
            source=src, note="alpha=0.25, gamma=2 (torchvision's defaults)",
        )
    yield case(
        "alpha_none_soft_targets", {"y_pred": logits, "y_true": soft}, {"alpha": None, "reduction": "none"},
        optax_sigmoid_focal(None, 2.0), source=src, wrt=["y_pred", "y_true"], note="optax' default (no α)",
    )
    yield case(
        "per_class_alpha_gamma_3", inputs, {"alpha": [0.1, 0.5, 0.9, 0.25], "gamma": 3.0, "reduction": "mean"},
        optax_sigmoid_focal([0.1, 0.5, 0.9, 0.25], 3.0, "mean"), source=src,
    )
    yield case(
        "normalizer_sum", inputs, {"normalizer": 7.0, "reduction": "sum"},
        optax_sigmoid_focal(0.25, 2.0, "sum", normalizer=7.0), source=src + ", / max(normalizer, 1)",
        note="Paddle's fg_num normalisation",
    )
    per_image = np.array([[3.0], [0.0], [1.0], [12.0], [2.0]], np.float32)
    yield case(
        "normalizer_per_image_none", inputs, {"normalizer": per_image, "reduction": "none"},
        optax_sigmoid_focal(0.25, 2.0, normalizer=per_image), source=src + ", / max(normalizer, 1)",
        note="normalizer [B, 1], clamped to >= 1",
    )
    extreme = np.array([[-1e3, -60.0, -20.0, 0.0], [20.0, 60.0, 1e3, -5.0]], np.float32)
    targets = np.array([[1.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]], np.float32)
    yield case(
        "large_logits_gamma_0.5", {"y_pred": extreme, "y_true": targets}, {"gamma": 0.5, "reduction": "none"},
        optax_sigmoid_focal(0.25, 0.5), source=src, note="gamma < 1 at saturated logits: finite gradients",
    )
    probs = rng.uniform(0.02, 0.98, size=(5, 4)).astype(np.float32)

    def from_probs(y_pred, y_true):
        import torch.nn.functional as F

        ce = F.binary_cross_entropy(y_pred, y_true, reduction="none")
        p_t = y_pred * y_true + (1 - y_pred) * (1 - y_true)
        return ((0.25 * y_true + 0.75 * (1 - y_true)) * (1 - p_t) ** 2 * ce).mean()

    yield case(
        "from_probabilities_mean", {"y_pred": probs, "y_true": hard}, {"from_logits": False, "reduction": "mean"},
        torch_reference(from_probs), source="float64 formula α_t (1-p_t)^γ BCE(p, y) (torch autograd)",
    )
    for dtype in ("float16", "bfloat16"):
        yield case(
            f"{dtype}_none", inputs, {"reduction": "none"}, optax_sigmoid_focal(0.25, 2.0), source=src, dtype=dtype,
        )
        yield case(
            f"{dtype}_alpha_none_mean", {"y_pred": logits * 5, "y_true": hard}, {"alpha": None, "reduction": "mean"},
            optax_sigmoid_focal(None, 2.0, "mean"), source=src, dtype=dtype, note="logits ~15",
        )


def softmax_focal_formula(alpha=None, gamma=2.0, ignore_index=None, class_axis=-1, from_logits=True):
    """``fn(y_pred, y_true) -> (loss, keep)``: -Σ_c α_c y_c (1 - p_c)^γ log p_c per example
    in float64 torch (α scalar, per class, or none), 0 where the label is ignored."""
    import torch
    import torch.nn.functional as F

    def fn(y_pred, y_true):
        if from_logits:
            log_p = F.log_softmax(y_pred, dim=class_axis)
        else:
            log_p = torch.log(y_pred / y_pred.sum(class_axis, keepdim=True))
        log_p = torch.movedim(log_p, class_axis, -1)
        num_classes = log_p.shape[-1]
        if y_true.is_floating_point():
            target = torch.movedim(y_true, class_axis, -1)
            keep = torch.ones(target.shape[:-1], dtype=torch.bool)
        else:
            keep = torch.ones_like(y_true, dtype=torch.bool) if ignore_index is None else y_true != ignore_index
            target = F.one_hot(torch.where(keep, y_true, 0), num_classes).double()
        weight = torch.ones(num_classes, dtype=torch.float64) if alpha is None else torch.as_tensor(alpha, dtype=torch.float64)
        one_minus_p = -torch.expm1(log_p)
        loss = -(weight * target * one_minus_p**gamma * log_p).sum(-1)
        return torch.where(keep, loss, torch.zeros_like(loss)), keep

    return fn


def torch_softmax_focal(alpha=None, gamma=2.0, reduction="none", **options):
    """The softmax focal formula reduced; ``"mean"`` over the non-ignored examples."""
    formula = softmax_focal_formula(alpha, gamma, **options)

    def fn(y_pred, y_true):
        loss, keep = formula(y_pred, y_true)
        if reduction == "mean":
            return loss.sum() / keep.sum()
        return loss.sum() if reduction == "sum" else loss

    return torch_reference(fn)


@builds("softmax_focal_loss")
def softmax_focal_loss_cases(rng):
    import keras
    import torch
    import torch.nn.functional as F

    src = "float64 formula -Σ_c α_c y_c (1-p_c)^γ log p_c (torch autograd)"
    yield case(
        "api_reference", {"y_pred": SEED_LOGITS, "y_true": SEED_LABELS},
        {"alpha": SEED_ALPHA, "gamma": 2.0, "reduction": "none"}, torch_softmax_focal(SEED_ALPHA),
        source="API.md reference values, the PolyLoss authors' TensorFlow code (value); " + src + " (gradient)", expected_value=[1.0890163, 0.00334221],
    )
    logits = rng.normal(scale=2.0, size=(6, 5)).astype(np.float32)
    labels = rng.integers(0, 5, size=6)
    labels[:2] = 3
    one_hot = np.eye(5, dtype=np.float32)[labels]
    inputs = {"y_pred": logits, "y_true": labels}
    x64 = torch.tensor(logits, dtype=torch.float64)
    check_agree("softmax focal gamma=0 vs torch cross_entropy", torch_softmax_focal(gamma=0.0)(inputs, [])[0],
                F.cross_entropy(x64, torch.tensor(labels), reduction="none").numpy())
    keras_focal = keras_value(
        lambda y, x: keras.losses.categorical_focal_crossentropy(y, x, alpha=0.25, gamma=2.0, from_logits=True),
        one_hot, logits,
    )
    check_agree("softmax focal vs keras", torch_softmax_focal(0.25)(inputs, [])[0], keras_focal, rtol=1e-6)
    for reduction in ("none", "mean", "sum"):
        yield case(
            f"integer_labels_{reduction}", inputs, {"reduction": reduction}, torch_softmax_focal(reduction=reduction),
            source=src,
        )
    yield case(
        "gamma_0_is_cross_entropy", inputs, {"gamma": 0.0, "reduction": "mean"},
        torch_softmax_focal(gamma=0.0, reduction="mean"), source=src + " = torch cross_entropy",
    )
    yield case(
        "scalar_alpha_one_hot", {"y_pred": logits, "y_true": one_hot}, {"alpha": 0.25, "reduction": "none"},
        torch_softmax_focal(0.25), source=src + ", equal to keras.losses.categorical_focal_crossentropy",
    )
    soft = rng.dirichlet(np.ones(5), size=6).astype(np.float32)
    yield case(
        "soft_targets_gamma_1.5", {"y_pred": logits, "y_true": soft}, {"gamma": 1.5, "reduction": "none"},
        torch_softmax_focal(gamma=1.5), source=src, wrt=["y_pred", "y_true"],
    )
    alpha = [0.1, 0.2, 0.3, 0.4, 0.5]
    yield case(
        "per_class_alpha_ignore_index_mean", inputs, {"alpha": alpha, "ignore_index": 3, "reduction": "mean"},
        torch_softmax_focal(alpha, reduction="mean", ignore_index=3), source=src,
        note="mean over the non-ignored examples",
    )
    logits3 = rng.normal(size=(3, 4, 5)).astype(np.float32)
    labels3 = rng.integers(0, 4, size=(3, 5))
    yield case(
        "class_axis_1", {"y_pred": logits3, "y_true": labels3}, {"axis": 1, "reduction": "none"},
        torch_softmax_focal(class_axis=1), source=src,
    )
    probs = rng.dirichlet(np.ones(5), size=6).astype(np.float32)
    yield case(
        "from_probabilities", {"y_pred": probs, "y_true": labels}, {"from_logits": False, "reduction": "none"},
        torch_softmax_focal(from_logits=False), source=src,
    )
    saturated = (rng.normal(size=(6, 5)) * 20).astype(np.float32)
    yield case(
        "saturated_gamma_0.5", {"y_pred": saturated, "y_true": labels}, {"gamma": 0.5, "reduction": "sum"},
        torch_softmax_focal(gamma=0.5, reduction="sum"), source=src,
        note="logit gaps up to ~100: p_t rounds to 1 in float32, finite gradients for gamma < 1",
    )
    large = (rng.normal(size=(6, 5)) * 1e3).astype(np.float32)
    large[np.arange(6), labels] += 500.0
    yield case(
        "large_logits_mean", {"y_pred": large, "y_true": labels}, {"reduction": "mean"},
        torch_softmax_focal(reduction="mean"), source=src, grad_tol={"rtol": 2e-4, "atol": 1e-6},
        note="logits ~1e3; gradient rtol 2e-4: the log-space (1-p_t) costs γ·(-log p_t)·2^-24 "
        "(-log p_t ~ 900 here) where a naive float32 formula happens to be exact",
    )
    for dtype in ("float16", "bfloat16"):
        yield case(
            f"{dtype}_per_class_alpha_none", inputs, {"alpha": alpha, "reduction": "none"},
            torch_softmax_focal(alpha), source=src, dtype=dtype,
        )
        yield case(
            f"{dtype}_one_hot_mean", {"y_pred": logits * 4, "y_true": one_hot}, {"reduction": "mean"},
            torch_softmax_focal(reduction="mean"), source=src, dtype=dtype,
        )

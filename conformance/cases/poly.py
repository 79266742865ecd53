"""poly1_cross_entropy (optax.losses.poly_loss_cross_entropy, float64) and
poly1_focal_loss (optax sigmoid focal + poly term; softmax form: the PolyLoss authors' formula)."""

from __future__ import annotations

import numpy as np

from conformance.cases import builds, case, jax_reference, torch_reference
from conformance.cases.focal import SEED_ALPHA, SEED_LABELS, SEED_LOGITS, softmax_focal_formula


def optax_poly_ce(epsilon, reduction="none", label_smoothing=0.0, class_axis=-1):
    """optax.losses.poly_loss_cross_entropy on one-hot (or probability) targets, smoothed."""
    import jax
    import jax.numpy as jnp
    import optax

    def fn(y_pred, y_true):
        num_classes = y_pred.shape[class_axis]
        if jnp.issubdtype(y_true.dtype, jnp.integer):
            y_true = jnp.moveaxis(jax.nn.one_hot(y_true, num_classes, dtype=jnp.float64), -1, class_axis)
        q = (1 - label_smoothing) * y_true + label_smoothing / num_classes
        loss = optax.losses.poly_loss_cross_entropy(y_pred, q, epsilon=epsilon, axis=class_axis)
        return {"none": loss, "mean": jnp.mean(loss), "sum": jnp.sum(loss)}[reduction]

    return jax_reference(fn)


@builds("poly1_cross_entropy")
def poly1_cross_entropy_cases(rng):
    src = "optax.losses.poly_loss_cross_entropy (float64, jax.grad) on (smoothed) one-hot targets"
    yield case(
        "api_reference", {"y_pred": SEED_LOGITS, "y_true": SEED_LABELS}, {"epsilon": 1.0, "reduction": "none"},
        optax_poly_ce(1.0), source="API.md reference values, the PolyLoss authors' TensorFlow code (value); " + src + " (gradient)",
        expected_value=[2.8241243, 0.33417147],
    )
    logits = rng.normal(scale=2.0, size=(6, 5)).astype(np.float32)
    labels = rng.integers(0, 5, size=6)
    inputs = {"y_pred": logits, "y_true": labels}
    for reduction, eps in (("none", 1.0), ("mean", 2.0), ("sum", -1.0)):
        yield case(
            f"epsilon_{eps}_{reduction}", inputs, {"epsilon": eps, "reduction": reduction},
            optax_poly_ce(eps, reduction), source=src,
        )
    yield case(
        "label_smoothing_mean", inputs, {"label_smoothing": 0.1, "reduction": "mean"},
        optax_poly_ce(1.0, "mean", 0.1), source=src,
    )
    soft = rng.dirichlet(np.ones(5), size=6).astype(np.float32)
    yield case(
        "probability_targets_smoothing", {"y_pred": logits, "y_true": soft},
        {"epsilon": 2.0, "label_smoothing": 0.2, "reduction": "none"}, optax_poly_ce(2.0, label_smoothing=0.2),
        source=src, wrt=["y_pred", "y_true"],
    )
    logits3 = rng.normal(size=(3, 4, 5)).astype(np.float32)
    labels3 = rng.integers(0, 4, size=(3, 5))
    yield case(
        "class_axis_1", {"y_pred": logits3, "y_true": labels3}, {"axis": 1, "reduction": "none"},
        optax_poly_ce(1.0, class_axis=1), source=src,
    )
    large = (rng.normal(size=(6, 5)) * 1e3).astype(np.float32)
    yield case(
        "large_logits_mean", {"y_pred": large, "y_true": labels}, {"reduction": "mean"},
        optax_poly_ce(1.0, "mean"), source=src, note="logits ~1e3",
    )
    for dtype in ("float16", "bfloat16"):
        yield case(f"{dtype}_none", inputs, {"reduction": "none"}, optax_poly_ce(1.0), source=src, dtype=dtype)
        yield case(
            f"{dtype}_smoothing_mean", {"y_pred": logits * 5, "y_true": labels},
            {"label_smoothing": 0.1, "reduction": "mean"}, optax_poly_ce(1.0, "mean", 0.1), source=src, dtype=dtype,
        )


def jax_poly1_sigmoid_focal(epsilon, alpha, gamma, reduction="none"):
    """optax' sigmoid focal loss (α-weighted) + ε (1 - p_t)^(γ+1), in float64."""
    import jax
    import jax.numpy as jnp
    import optax

    def fn(y_pred, y_true):
        focal = optax.losses.sigmoid_focal_loss(y_pred, y_true, alpha=alpha, gamma=gamma)
        log_1m_pt = jnp.logaddexp(jnp.log(y_true) + jax.nn.log_sigmoid(-y_pred), jnp.log1p(-y_true) + jax.nn.log_sigmoid(y_pred))
        loss = focal + epsilon * jnp.exp((gamma + 1) * log_1m_pt)
        return {"none": loss, "mean": jnp.mean(loss), "sum": jnp.sum(loss)}[reduction]

    return jax_reference(fn)


def torch_poly1_softmax_focal(epsilon, alpha, gamma, reduction="none"):
    """The PolyLoss authors' poly-1 focal: softmax focal + ε mean_c (1 - p_t,c)^(γ+1) on per-class sigmoids."""
    import torch
    import torch.nn.functional as F

    focal = softmax_focal_formula(alpha, gamma)

    def fn(y_pred, y_true):
        num_classes = y_pred.shape[-1]
        target = y_true if y_true.is_floating_point() else F.one_hot(y_true, num_classes).double()
        p = torch.sigmoid(y_pred)
        p_t = target * p + (1 - target) * (1 - p)
        loss = focal(y_pred, y_true)[0] + epsilon * ((1 - p_t) ** (gamma + 1)).mean(-1)
        return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]

    return torch_reference(fn)


@builds("poly1_focal_loss")
def poly1_focal_loss_cases(rng):
    sig = "optax.losses.sigmoid_focal_loss + ε (1-p_t)^(γ+1) (float64, jax.grad)"
    soft_src = "float64 formula of the PolyLoss authors' code: softmax focal + ε mean_c (1-p_t,c)^(γ+1) (torch autograd)"
    yield case(
        "api_reference_softmax", {"y_pred": SEED_LOGITS, "y_true": SEED_LABELS},
        {"epsilon": 1.0, "alpha": SEED_ALPHA, "gamma": 2.0, "focal": "softmax", "reduction": "none"},
        torch_poly1_softmax_focal(1.0, SEED_ALPHA, 2.0), source="API.md reference values, the PolyLoss authors' TensorFlow code (value); " + soft_src + " (gradient)",
        expected_value=[1.4649665, 0.1818437],
    )
    logits = rng.normal(scale=3.0, size=(5, 4)).astype(np.float32)
    hard = (rng.random((5, 4)) > 0.7).astype(np.float32)
    soft = rng.random((5, 4)).astype(np.float32)
    inputs = {"y_pred": logits, "y_true": hard}
    for reduction in ("none", "mean", "sum"):
        yield case(
            f"sigmoid_default_{reduction}", inputs, {"reduction": reduction},
            jax_poly1_sigmoid_focal(1.0, 0.25, 2.0, reduction), source=sig,
        )
    yield case(
        "sigmoid_alpha_none_eps_-1_soft", {"y_pred": logits, "y_true": soft},
        {"epsilon": -1.0, "alpha": None, "gamma": 1.0, "reduction": "none"},
        jax_poly1_sigmoid_focal(-1.0, None, 1.0), source=sig, wrt=["y_pred", "y_true"],
    )
    extreme = np.array([[-1e3, -60.0, -20.0, 0.0], [20.0, 60.0, 1e3, -5.0]], np.float32)
    targets = np.array([[1.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]], np.float32)
    yield case(
        "sigmoid_large_logits_gamma_0.5", {"y_pred": extreme, "y_true": targets},
        {"epsilon": 2.0, "gamma": 0.5, "reduction": "none"}, jax_poly1_sigmoid_focal(2.0, 0.25, 0.5),
        source=sig, note="saturated logits: finite gradients",
    )
    cls_logits = rng.normal(scale=2.0, size=(6, 5)).astype(np.float32)
    labels = rng.integers(0, 5, size=6)
    one_hot = np.eye(5, dtype=np.float32)[labels]
    alpha = [0.25, 0.75, 0.75, 0.75, 0.75]
    yield case(
        "softmax_per_class_alpha_mean", {"y_pred": cls_logits, "y_true": labels},
        {"epsilon": 2.0, "alpha": alpha, "focal": "softmax", "reduction": "mean"},
        torch_poly1_softmax_focal(2.0, alpha, 2.0, "mean"), source=soft_src,
    )
    yield case(
        "softmax_scalar_alpha_one_hot", {"y_pred": cls_logits, "y_true": one_hot},
        {"alpha": 0.25, "gamma": 1.0, "focal": "softmax", "reduction": "none"},
        torch_poly1_softmax_focal(1.0, 0.25, 1.0), source=soft_src,
    )
    for dtype in ("float16", "bfloat16"):
        yield case(
            f"{dtype}_sigmoid_none", inputs, {"reduction": "none"}, jax_poly1_sigmoid_focal(1.0, 0.25, 2.0),
            source=sig, dtype=dtype,
        )
        yield case(
            f"{dtype}_softmax_mean", {"y_pred": cls_logits, "y_true": labels},
            {"alpha": alpha, "focal": "softmax", "reduction": "mean"},
            torch_poly1_softmax_focal(1.0, alpha, 2.0, "mean"), source=soft_src, dtype=dtype,
        )

"""kl_divergence, from torch.nn.functional.kl_div (float64), cross-checked with optax."""

from __future__ import annotations

import numpy as np

from conformance.cases import builds, case, check_agree, torch_reference


def _torch_kl(reduction: str, from_logits: bool = True, class_axis: int = -1):
    import torch
    import torch.nn.functional as F

    def fn(y_pred, y_true):
        if from_logits:
            log_q = F.log_softmax(y_pred, dim=class_axis)
        else:
            log_q = torch.log(y_pred / y_pred.sum(class_axis, keepdim=True))
        per_example = F.kl_div(log_q, y_true, reduction="none").sum(class_axis)
        return {"none": per_example, "mean": per_example.mean(), "sum": per_example.sum()}[reduction]

    return torch_reference(fn)


@builds("kl_divergence")
def kl_divergence_cases(rng):
    src = "torch.nn.functional.kl_div(log_softmax(y_pred), y_true).sum(-1) (float64)"
    logits = rng.normal(scale=2.0, size=(6, 5)).astype(np.float32)
    target = rng.dirichlet(np.ones(5), size=6).astype(np.float32)
    inputs = {"y_pred": logits, "y_true": target}
    for reduction in ("none", "mean", "sum"):
        yield case(
            f"typical_{reduction}", inputs, {"reduction": reduction}, _torch_kl(reduction),
            source=src, wrt=["y_pred", "y_true"],
        )
    import jax
    import optax

    optax_kl = np.asarray(optax.losses.kl_divergence(jax.nn.log_softmax(logits.astype(np.float64)), target.astype(np.float64)))
    check_agree("kl_divergence vs optax", _torch_kl("none")(inputs, [])[0], optax_kl)
    sparse = np.eye(5, dtype=np.float32)[rng.integers(0, 5, size=6)]
    sparse[0] = [0.5, 0.5, 0.0, 0.0, 0.0]
    yield case(
        "zero_targets_none", {"y_pred": logits, "y_true": sparse}, {"reduction": "none"},
        _torch_kl("none"), source=src, note="0 log 0 = 0; gradient wrt y_pred only",
    )
    logits3 = rng.normal(size=(3, 4, 5)).astype(np.float32)
    target3 = np.moveaxis(rng.dirichlet(np.ones(4), size=(3, 5)), -1, 1).astype(np.float32)
    yield case(
        "class_axis_1", {"y_pred": logits3, "y_true": target3}, {"axis": 1, "reduction": "none"},
        _torch_kl("none", class_axis=1), source=src,
    )
    probs = rng.dirichlet(np.ones(5), size=6).astype(np.float32)
    yield case(
        "from_probabilities_mean", {"y_pred": probs, "y_true": target},
        {"from_logits": False, "reduction": "mean"}, _torch_kl("mean", from_logits=False),
        source="torch.nn.functional.kl_div(log(y_pred), y_true) (float64)",
    )
    large = (rng.normal(size=(6, 5)) * 1e3).astype(np.float32)
    yield case(
        "large_logits_mean", {"y_pred": large, "y_true": target}, {"reduction": "mean"},
        _torch_kl("mean"), source=src, note="logits ~1e3",
    )
    for dtype in ("float16", "bfloat16"):
        yield case(
            f"{dtype}_none", inputs, {"reduction": "none"}, _torch_kl("none"), source=src, dtype=dtype,
        )
        yield case(
            f"{dtype}_large_logits_mean", {"y_pred": large / 20.0, "y_true": target},
            {"reduction": "mean"}, _torch_kl("mean"), source=src, dtype=dtype, note="logits ~50",
        )


# --- distillation_loss -----------------------------------------------------------------


def _torch_distillation(reduction: str, temperature: float = 1.0, class_axis: int = -1):
    """Hinton et al. 2015: T² · KL(softmax(t/T) ‖ softmax(s/T)) with the teacher detached."""
    import torch.nn.functional as F

    def fn(y_pred, y_true):
        log_q = F.log_softmax(y_pred / temperature, dim=class_axis)
        log_p = F.log_softmax(y_true.detach() / temperature, dim=class_axis)
        kl = F.kl_div(log_q, log_p, log_target=True, reduction="none").sum(class_axis)
        per_example = temperature**2 * kl
        return {"none": per_example, "mean": per_example.mean(), "sum": per_example.sum()}[reduction]

    return torch_reference(fn)


@builds("distillation_loss")
def distillation_loss_cases(rng):
    src = (
        "T**2 * torch.nn.functional.kl_div(log_softmax(y_pred / T), log_softmax(y_true / T), "
        "log_target=True).sum(-1), teacher detached (float64)"
    )
    both = ["y_pred", "y_true"]  # the teacher's expected gradient is 0 (held constant)
    student = rng.normal(scale=2.0, size=(6, 5)).astype(np.float32)
    teacher = rng.normal(scale=2.0, size=(6, 5)).astype(np.float32)
    inputs = {"y_pred": student, "y_true": teacher}
    for reduction in ("none", "mean", "sum"):
        yield case(
            f"typical_{reduction}", inputs, {"reduction": reduction}, _torch_distillation(reduction),
            source=src, wrt=both,
        )
    import jax
    import optax

    optax_kl = np.asarray(optax.losses.kl_divergence_with_log_targets(
        jax.nn.log_softmax(student.astype(np.float64) / 4.0),
        jax.nn.log_softmax(teacher.astype(np.float64) / 4.0),
    )) * 16.0
    check_agree("distillation_loss vs optax", _torch_distillation("none", 4.0)(inputs, [])[0], optax_kl)
    for temperature in (2.0, 4.0, 20.0, 100.0, 0.5, 0.05):
        yield case(
            f"temperature_{temperature}_none", inputs, {"temperature": temperature, "reduction": "none"},
            _torch_distillation("none", temperature), source=src, wrt=both,
            note="T = 0.05: logits x 20, nearly one-hot distributions" if temperature == 0.05 else "",
        )
    agreeing = teacher + rng.normal(scale=0.05, size=teacher.shape).astype(np.float32)
    yield case(
        "student_close_to_teacher_none", {"y_pred": agreeing, "y_true": teacher},
        {"temperature": 0.05, "reduction": "none"}, _torch_distillation("none", 0.05), source=src,
        wrt=both, note="same argmax, KL down to ~1e-13: summed p*log(p/q) - p + q terms, never negative",
    )
    logits3 = rng.normal(size=(3, 4, 5)).astype(np.float32)
    teacher3 = rng.normal(size=(3, 4, 5)).astype(np.float32)
    yield case(
        "class_axis_1", {"y_pred": logits3, "y_true": teacher3}, {"axis": 1, "temperature": 3.0, "reduction": "none"},
        _torch_distillation("none", 3.0, class_axis=1), source=src, wrt=both,
    )
    large_s = (rng.normal(size=(6, 5)) * 1e3).astype(np.float32)
    large_t = (rng.normal(size=(6, 5)) * 1e3).astype(np.float32)
    large = {"y_pred": large_s, "y_true": large_t}
    for temperature in (1.0, 0.05, 100.0):
        yield case(
            f"large_logits_temperature_{temperature}_mean", large, {"temperature": temperature, "reduction": "mean"},
            _torch_distillation("mean", temperature), source=src, wrt=both, note="logits ~1e3",
        )
    for dtype in ("float16", "bfloat16"):
        yield case(
            f"{dtype}_none", inputs, {"reduction": "none"}, _torch_distillation("none"), source=src,
            dtype=dtype, wrt=both,
        )
        yield case(
            f"{dtype}_temperature_4_mean", inputs, {"temperature": 4.0, "reduction": "mean"},
            _torch_distillation("mean", 4.0), source=src, dtype=dtype, wrt=both,
        )
        yield case(
            f"{dtype}_temperature_0.05_sum", {"y_pred": large_s / 20.0, "y_true": large_t / 20.0},
            {"temperature": 0.05, "reduction": "sum"}, _torch_distillation("sum", 0.05), source=src,
            dtype=dtype, wrt=both, note="logits ~50 at T = 0.05",
        )


# --- js_divergence ---------------------------------------------------------------------


def _torch_js(reduction: str, from_logits: bool = True, class_axis: int = -1):
    """Lin 1991: ½ KL(p ‖ m) + ½ KL(q ‖ m), m = (p + q)/2, natural log, in log space
    (log m = logaddexp(log p, log q) − log 2; 0·log 0 = 0 as exp(−∞)·finite)."""
    import math

    import torch
    import torch.nn.functional as F

    def fn(y_pred, y_true):
        if from_logits:
            log_p, log_q = F.log_softmax(y_pred, dim=class_axis), F.log_softmax(y_true, dim=class_axis)
        else:
            log_p = torch.log(y_pred / y_pred.sum(class_axis, keepdim=True))
            log_q = torch.log(y_true / y_true.sum(class_axis, keepdim=True))
        log_m = torch.logaddexp(log_p, log_q) - math.log(2.0)
        terms = torch.exp(log_p) * (log_p - log_m) + torch.exp(log_q) * (log_q - log_m)
        per_example = 0.5 * terms.sum(class_axis)
        return {"none": per_example, "mean": per_example.mean(), "sum": per_example.sum()}[reduction]

    return torch_reference(fn)


def _scipy_js(p, q, axis=-1):
    """scipy.spatial.distance.jensenshannon(p, q) ** 2 (natural log by default)."""
    from scipy.spatial.distance import jensenshannon

    return jensenshannon(np.asarray(p, np.float64), np.asarray(q, np.float64), axis=axis) ** 2


def _softmax64(x, axis=-1):
    x = np.asarray(x, np.float64)
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


@builds("js_divergence")
def js_divergence_cases(rng):
    src = (
        "0.5*KL(p||m) + 0.5*KL(q||m), m = (p+q)/2, float64 torch in log space (Lin 1991); "
        "values checked against scipy.spatial.distance.jensenshannon(p, q)**2"
    )
    both = ["y_pred", "y_true"]
    logits = rng.normal(scale=2.0, size=(6, 5)).astype(np.float32)
    other = rng.normal(scale=2.0, size=(6, 5)).astype(np.float32)
    inputs = {"y_pred": logits, "y_true": other}
    check_agree(
        "js_divergence vs scipy", _torch_js("none")(inputs, [])[0], _scipy_js(_softmax64(logits), _softmax64(other))
    )
    for reduction in ("none", "mean", "sum"):
        yield case(
            f"typical_{reduction}", inputs, {"reduction": reduction}, _torch_js(reduction), source=src, wrt=both,
        )
    close = logits + rng.normal(scale=1e-2, size=logits.shape).astype(np.float32)
    yield case(
        "close_distributions_none", {"y_pred": logits, "y_true": close}, {"reduction": "none"}, _torch_js("none"),
        source=src, wrt=both, note="JS ~1e-6: log(p/m) as -log1p(expm1(log q - log p)/2)",
    )
    yield case(
        "identical_none", {"y_pred": logits, "y_true": logits}, {"reduction": "none"}, _torch_js("none"),
        source=src, wrt=both, note="0 with zero gradients",
    )
    probs = rng.dirichlet(np.ones(5), size=6).astype(np.float32)
    probs_other = rng.dirichlet(np.ones(5), size=6).astype(np.float32)
    check_agree("js_divergence (probabilities) vs scipy", _torch_js("none", from_logits=False)(
        {"y_pred": probs, "y_true": probs_other}, [])[0], _scipy_js(probs, probs_other))
    yield case(
        "from_probabilities_mean", {"y_pred": probs, "y_true": probs_other}, {"from_logits": False, "reduction": "mean"},
        _torch_js("mean", from_logits=False), source=src, wrt=both,
    )
    logits3 = rng.normal(size=(3, 4, 5)).astype(np.float32)
    other3 = rng.normal(size=(3, 4, 5)).astype(np.float32)
    yield case(
        "class_axis_1", {"y_pred": logits3, "y_true": other3}, {"axis": 1, "reduction": "none"},
        _torch_js("none", class_axis=1), source=src, wrt=both,
    )
    large = (rng.normal(size=(6, 5)) * 1e3).astype(np.float32)
    large_other = (rng.normal(size=(6, 5)) * 1e3).astype(np.float32)
    large_other[0] = large[0]  # identical one-hot-like rows: 0
    large_other[1] = large[1] + 0.5  # same distribution, shifted logits: 0
    yield case(
        "one_hot_like_logits_none", {"y_pred": large, "y_true": large_other}, {"reduction": "none"},
        _torch_js("none"), source=src, wrt=both, note="logits ~1e3: values log 2 or 0, finite gradients",
    )
    for dtype in ("float16", "bfloat16"):
        yield case(f"{dtype}_none", inputs, {"reduction": "none"}, _torch_js("none"), source=src, dtype=dtype, wrt=both)
        yield case(
            f"{dtype}_large_logits_mean", {"y_pred": large / 20.0, "y_true": large_other / 20.0},
            {"reduction": "mean"}, _torch_js("mean"), source=src, dtype=dtype, wrt=both, note="logits ~50",
        )

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

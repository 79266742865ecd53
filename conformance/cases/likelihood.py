"""poisson_nll_loss and gaussian_nll_loss from torch.nn.functional (float64): the
element values of reduction='none' averaged over the last axis (torch's gaussian
clamp of the variance and its straight-through gradient included)."""

from __future__ import annotations

import numpy as np

from conformance.cases import builds, case, torch_reference


def _poisson(log_input: bool, full: bool, eps: float, reduction: str):
    import torch.nn.functional as F

    def fn(y_pred, y_true):
        return F.poisson_nll_loss(
            y_pred, y_true, log_input=log_input, full=full, eps=eps, reduction="none"
        ).mean(-1)

    return torch_reference(fn, reduction)


@builds("poisson_nll_loss")
def poisson_nll_loss_cases(rng):
    src = "torch.nn.functional.poisson_nll_loss(reduction='none').mean(-1) (float64)"
    log_rate = rng.normal(scale=1.5, size=(5, 4)).astype(np.float32)
    counts = rng.poisson(3.0, size=(5, 4)).astype(np.float32)
    counts[0, :2] = 0.0
    counts[1, 0] = 1.0  # the Stirling term starts above 1
    inputs = {"y_pred": log_rate, "y_true": counts}
    both = ["y_pred", "y_true"]
    for reduction in ("none", "mean", "sum"):
        yield case(
            f"log_input_{reduction}", inputs, {"reduction": reduction},
            _poisson(True, False, 1e-8, reduction), source=src, wrt=both,
        )
    yield case(
        "log_input_full_none", inputs, {"full": True, "reduction": "none"},
        _poisson(True, True, 1e-8, "none"), source=src,
        note="Stirling term for counts > 1 (torch's gradient for the counts is NaN at 0: not compared)",
    )
    rate = np.exp(log_rate).astype(np.float32)
    rate[2, 1] = 0.0
    for full in (False, True):
        yield case(
            f"rate_full_{full}_none", {"y_pred": rate, "y_true": counts},
            {"log_input": False, "full": full, "reduction": "none"},
            _poisson(False, full, 1e-8, "none"), source=src, note="rates, one of them 0 (eps inside the log)",
        )
    yield case(
        "rate_eps_0.1_mean", {"y_pred": rate, "y_true": counts},
        {"log_input": False, "eps": 0.1, "reduction": "mean"}, _poisson(False, False, 0.1, "mean"),
        source=src, wrt=both,
    )
    pred3 = rng.normal(size=(2, 3, 4)).astype(np.float32)
    counts3 = rng.poisson(2.0, size=(2, 3, 4)).astype(np.float32)
    yield case(
        "rank3_full_sum", {"y_pred": pred3, "y_true": counts3}, {"full": True, "reduction": "sum"},
        _poisson(True, True, 1e-8, "sum"), source=src,
    )
    big = {"y_pred": (log_rate * 8.0).astype(np.float32), "y_true": (counts * 1e3).astype(np.float32)}
    yield case(
        "large_values_full_mean", big, {"full": True, "reduction": "mean"},
        _poisson(True, True, 1e-8, "mean"), source=src, note="log-rates to ~30 (rates ~1e13), counts ~1e3",
    )
    for dtype in ("float16", "bfloat16"):
        yield case(
            f"{dtype}_none", inputs, {"reduction": "none"}, _poisson(True, False, 1e-8, "none"),
            source=src, dtype=dtype, wrt=both,
        )
        yield case(
            f"{dtype}_rate_full_mean", {"y_pred": np.exp(log_rate).astype(np.float32), "y_true": counts},
            {"log_input": False, "full": True, "reduction": "mean"},
            _poisson(False, True, 1e-8, "mean"), source=src, dtype=dtype,
        )


def _gaussian(full: bool, eps: float, reduction: str):
    import torch.nn.functional as F

    def fn(y_pred, y_true, var):
        return F.gaussian_nll_loss(y_pred, y_true, var, full=full, eps=eps, reduction="none").mean(-1)

    return torch_reference(fn, reduction)


@builds("gaussian_nll_loss")
def gaussian_nll_loss_cases(rng):
    src = "torch.nn.functional.gaussian_nll_loss(reduction='none').mean(-1) (float64)"
    mean = rng.normal(size=(5, 4)).astype(np.float32)
    target = rng.normal(size=(5, 4)).astype(np.float32)
    var = rng.uniform(0.2, 2.0, size=(5, 4)).astype(np.float32)
    every = ["y_pred", "y_true", "var"]
    inputs = {"y_pred": mean, "y_true": target, "var": var}
    for reduction in ("none", "mean", "sum"):
        yield case(
            f"per_entry_var_{reduction}", inputs, {"reduction": reduction},
            _gaussian(False, 1e-6, reduction), source=src, wrt=every,
        )
    yield case(
        "per_entry_var_full_none", inputs, {"full": True, "reduction": "none"},
        _gaussian(True, 1e-6, "none"), source=src, wrt=every,
    )
    yield case(
        "per_example_var_none", {**inputs, "var": var[:, :1].copy()}, {"reduction": "none"},
        _gaussian(False, 1e-6, "none"), source=src, wrt=every, note="var [B, 1]: one variance per example",
    )
    yield case(
        "var_without_last_axis_mean", {**inputs, "var": var[:, 0].copy()}, {"full": True, "reduction": "mean"},
        _gaussian(True, 1e-6, "mean"), source=src, wrt=every, note="var [B]: torch unsqueezes it",
    )
    clamped = var.copy()
    clamped[0, :2] = 0.0
    clamped[2, 1] = 0.005
    clamped[3, 3] = 0.02
    yield case(
        "var_below_eps_none", {**inputs, "var": clamped}, {"eps": 0.01, "reduction": "none"},
        _gaussian(False, 0.01, "none"), source=src, wrt=every,
        note="var below eps: the value at eps, the gradient passed to var unchanged (as torch)",
    )
    pred3 = rng.normal(size=(2, 3, 4)).astype(np.float32)
    yield case(
        "rank3_broadcast_var_sum",
        {"y_pred": pred3, "y_true": rng.normal(size=(2, 3, 4)).astype(np.float32),
         "var": rng.uniform(0.5, 1.5, size=(2, 1, 4)).astype(np.float32)},
        {"reduction": "sum"}, _gaussian(False, 1e-6, "sum"), source=src, wrt=every,
        note="var [2, 1, 4] broadcast over the middle axis (as torch)",
    )
    big = {"y_pred": mean * 1e3, "y_true": target * 1e3, "var": var * 1e4}
    yield case(
        "large_values_mean", big, {"reduction": "mean"}, _gaussian(False, 1e-6, "mean"),
        source=src, wrt=every, note="means ~1e3, variances ~1e4",
    )
    for dtype in ("float16", "bfloat16"):
        yield case(
            f"{dtype}_none", inputs, {"reduction": "none"}, _gaussian(False, 1e-6, "none"),
            source=src, dtype=dtype, wrt=every,
        )
        yield case(
            f"{dtype}_per_example_var_full_mean", {**inputs, "var": var[:, :1].copy()},
            {"full": True, "reduction": "mean"}, _gaussian(True, 1e-6, "mean"), source=src,
            dtype=dtype, wrt=["y_pred", "var"],
        )

"""uncertainty_weighting and task_priority_weights, from float64 formulas in torch
(no peer library ships either; LibMTL's uncertainty weighting is the "kendall" value
with every task a regression task)."""

from __future__ import annotations

import numpy as np

from conformance.cases import builds, case, torch_reference


def _uncertainty(task_types, convention):
    def fn(losses, log_vars):
        import torch

        if convention == "simplified":
            return torch.sum(torch.exp(-log_vars) * losses + log_vars)
        coef = torch.tensor(
            [0.5 if t == "regression" else 1.0 for t in (task_types or ["regression"] * len(losses))],
            dtype=torch.float64,
        )
        return torch.sum(coef * torch.exp(-log_vars) * losses + 0.5 * log_vars)

    return torch_reference(fn)


@builds("uncertainty_weighting")
def uncertainty_weighting_cases(rng):
    src = "Kendall et al. 2018 eq. 7/10 (float64 torch formula)"
    losses = rng.uniform(0.1, 3.0, size=3).astype(np.float32)
    log_vars = rng.normal(size=3).astype(np.float32)
    both = ["losses", "log_vars"]
    inputs = {"losses": losses, "log_vars": log_vars}
    mixed = ["regression", "classification", "regression"]
    for name, params in (
        ("kendall_regression", {}),
        ("kendall_mixed", {"task_types": mixed}),
        ("simplified", {"convention": "simplified"}),
    ):
        reference = _uncertainty(params.get("task_types"), params.get("convention", "kendall"))
        yield case(name, inputs, params, reference, source=src, wrt=both)
    yield case(
        "large_log_vars", {"losses": losses * 100, "log_vars": np.float32([-20.0, 0.0, 20.0])},
        {"task_types": mixed}, _uncertainty(mixed, "kendall"), source=src, wrt=both,
        note="e^20 weights: finite",
    )
    for dtype in ("float16", "bfloat16"):
        yield case(
            f"{dtype}_kendall", inputs, {}, _uncertainty(None, "kendall"), source=src,
            dtype=dtype, wrt=both,
        )


def _priority(gamma):
    def fn(kpis):
        import torch

        kappa = torch.clamp(kpis, 1e-7, 1 - 1e-7)
        g = torch.as_tensor(gamma, dtype=torch.float64)
        return -((1 - kappa) ** g) * torch.log(kappa)

    return torch_reference(fn)


@builds("task_priority_weights")
def task_priority_weights_cases(rng):
    src = "Guo et al. 2018 w = -(1 - k)^g log k (float64 torch formula, k clipped to [1e-7, 1 - 1e-7])"
    kpis = rng.uniform(0.05, 0.95, size=4).astype(np.float32)
    for gamma in (1.0, 2.0, 0.5, 0.0):
        yield case(f"gamma_{gamma}", {"kpis": kpis}, {"gamma": gamma}, _priority(gamma), source=src)
    per_task = [0.5, 1.0, 2.0, 3.0]
    yield case("gamma_per_task", {"kpis": kpis}, {"gamma": per_task}, _priority(per_task), source=src)
    edges = np.float32([1e-3, 0.5, 0.999, 0.3])
    yield case("near_0_and_1", {"kpis": edges}, {"gamma": 2.0}, _priority(2.0), source=src)
    for dtype in ("float16", "bfloat16"):
        yield case(f"{dtype}_gamma_2", {"kpis": kpis}, {"gamma": 2.0}, _priority(2.0), source=src, dtype=dtype)

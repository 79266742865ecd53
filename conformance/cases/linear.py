"""linear_cross_entropy: ``torch.nn.functional.linear_cross_entropy`` in float64 (its
reference path), cross-checked against ``F.cross_entropy`` of the full logits; z-loss
and soft-capping from a float64 formula of the full logits."""

from __future__ import annotations

import numpy as np

from conformance.cases import builds, case, check_agree, torch_reference

N, D, V = 9, 4, 37


def _torch_linear(reduction: str, bias=None, **kwargs):
    def fn(hidden, weight, labels):
        import torch
        import torch.nn.functional as F

        b = None if bias is None else torch.tensor(bias, dtype=torch.float64)
        return F.linear_cross_entropy(
            hidden, weight, labels, linear_bias=b, reduction=reduction, **kwargs
        )

    return torch_reference(fn)


def _full_logits_formula(reduction: str, bias, z_loss: float = 0.0, softcap: float | None = None):
    def fn(hidden, weight, labels):
        import torch

        logits = hidden @ weight.T + torch.tensor(bias, dtype=torch.float64)
        if softcap is not None:
            logits = softcap * torch.tanh(logits / softcap)
        lse = torch.logsumexp(logits, -1)
        picked = logits.gather(-1, labels[:, None])[:, 0]
        loss = lse - picked + z_loss * lse**2
        return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]

    return torch_reference(fn)


@builds("linear_cross_entropy")
def linear_cross_entropy_cases(rng):
    import torch
    import torch.nn.functional as F

    src = "torch.nn.functional.linear_cross_entropy (float64)"
    inputs = {
        "hidden": rng.normal(size=(N, D)).astype(np.float32),
        "weight": rng.normal(scale=0.7, size=(V, D)).astype(np.float32),
        "labels": rng.integers(0, V, size=N),
    }
    inputs["labels"][:2] = 5
    bias = rng.normal(scale=0.3, size=V).astype(np.float32)
    # the two peers agree on the full logits
    h, w = (torch.tensor(inputs[k], dtype=torch.float64) for k in ("hidden", "weight"))
    b = torch.tensor(bias, dtype=torch.float64)
    y = torch.tensor(inputs["labels"])
    check_agree(
        "linear vs full logits",
        F.linear_cross_entropy(h, w, y, linear_bias=b, reduction="none"),
        F.cross_entropy(h @ w.T + b, y, reduction="none"),
    )
    wrt = ["hidden", "weight"]
    for reduction in ("none", "mean", "sum"):
        yield case(
            f"bias_{reduction}", inputs, {"bias": bias, "reduction": reduction, "chunk_size": 8},
            _torch_linear(reduction, bias), source=src, wrt=wrt,
        )
    yield case(
        "no_bias_mean", inputs, {"reduction": "mean"}, _torch_linear("mean"), source=src, wrt=wrt,
    )
    class_weight = rng.uniform(0.2, 2.0, size=V).astype(np.float32)
    yield case(
        "ignore_index_class_weight_smoothing_mean", inputs,
        {"bias": bias, "ignore_index": 5, "class_weight": class_weight, "label_smoothing": 0.1,
         "reduction": "mean", "chunk_size": 16},
        _torch_linear("mean", bias, ignore_index=5, weight=torch.tensor(class_weight, dtype=torch.float64),
                      label_smoothing=0.1),
        source=src, wrt=wrt, note="mean divides by the summed class weights of the kept targets",
    )
    yield case(
        "z_loss_softcap_none", inputs,
        {"bias": bias, "z_loss": 1e-3, "logit_softcap": 3.0, "reduction": "none", "chunk_size": 8},
        _full_logits_formula("none", bias, z_loss=1e-3, softcap=3.0),
        source="float64 formula of the full logits: 3·tanh(x/3), lse − x_t + 1e-3·lse² (PaLM z-loss, Gemma 2 soft-capping)",
        wrt=wrt,
    )
    large = dict(inputs, hidden=(inputs["hidden"] * 300).astype(np.float32))
    yield case(
        "large_logits_mean", large, {"bias": bias, "reduction": "mean", "chunk_size": 8},
        _torch_linear("mean", bias), source=src, wrt=wrt,
        note="logits in the hundreds: the running log-sum-exp over chunks stays exact",
    )
    for dtype in ("float16", "bfloat16"):
        yield case(
            f"{dtype}_mean", inputs, {"reduction": "mean", "chunk_size": 8},
            _torch_linear("mean"), source=src + f" on {dtype}-rounded inputs",
            dtype=dtype, wrt=wrt,
        )

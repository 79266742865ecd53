"""mean_squared_error, from torch.nn.functional.mse_loss (float64), cross-checked with keras.losses."""

from __future__ import annotations

import numpy as np

from conformance.cases import builds, case, check_agree, keras_value, torch_reference


def _torch_mse(reduction: str):
    import torch.nn.functional as F

    def fn(y_pred, y_true):
        return F.mse_loss(y_pred, y_true, reduction="none").mean(-1)

    return torch_reference(fn, reduction)


@builds("mean_squared_error")
def mean_squared_error_cases(rng):
    import keras

    src = "torch.nn.functional.mse_loss(reduction='none').mean(-1) (float64)"
    pred = rng.normal(size=(5, 4)).astype(np.float32)
    true = rng.normal(size=(5, 4)).astype(np.float32)
    inputs = {"y_pred": pred, "y_true": true}
    check_agree("mse vs keras", _torch_mse("none")(inputs, [])[0], keras_value(keras.losses.mean_squared_error, true, pred))
    for reduction in ("none", "mean", "sum"):
        yield case(
            f"typical_{reduction}", inputs, {"reduction": reduction}, _torch_mse(reduction),
            source=src, wrt=["y_pred", "y_true"],
        )
    pred3, true3 = rng.normal(size=(2, 3, 4)).astype(np.float32), rng.normal(size=(2, 3, 4)).astype(np.float32)
    yield case("rank3_none", {"y_pred": pred3, "y_true": true3}, {"reduction": "none"}, _torch_mse("none"), source=src)
    large = {"y_pred": pred * 1e3, "y_true": true * 1e3}
    yield case("large_values_mean", large, {"reduction": "mean"}, _torch_mse("mean"), source=src, note="values ~1e3")
    for dtype in ("float16", "bfloat16"):
        yield case(f"{dtype}_none", inputs, {"reduction": "none"}, _torch_mse("none"), source=src, dtype=dtype)
        yield case(
            f"{dtype}_large_values_mean", {"y_pred": pred * 30, "y_true": true * 30},
            {"reduction": "mean"}, _torch_mse("mean"), source=src, dtype=dtype,
            wrt=["y_pred", "y_true"], note="values ~30",
        )

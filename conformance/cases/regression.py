"""The regression losses from their peers in float64: torch.nn.functional (mse_loss,
l1_loss, huber_loss, smooth_l1_loss), optax.losses.cosine_distance, and float64 formulas
for log-cosh and the pinball loss; cross-checked with keras.losses where Keras has them."""

from __future__ import annotations

import numpy as np

from conformance.cases import builds, case, check_agree, jax_reference, keras_value, torch_reference


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


# --- shared -------------------------------------------------------------------------------


def _per_example(elementwise, reduction: str):
    """torch float64 reference: ``elementwise(**tensors)`` averaged over the last axis,
    then reduced over the examples."""

    def fn(**tensors):
        return elementwise(**tensors).mean(-1)

    return torch_reference(fn, reduction)


def _pair(rng, shape=(5, 4), scale=1.0):
    pred = (rng.normal(size=shape) * scale).astype(np.float32)
    true = (rng.normal(size=shape) * scale).astype(np.float32)
    return {"y_pred": pred, "y_true": true}


def _scaled(inputs, factor):
    return {k: (v * np.float32(factor)).astype(np.float32) for k, v in inputs.items()}


BOTH = ["y_pred", "y_true"]


def _common_cases(rng, elementwise, params, src, *, large=1e3, half_scale=4.0, keras_fn=None, keras_rtol=1e-9):
    """Every reduction, rank 3, large magnitudes and half precision for a loss of
    ``(y_pred, y_true)`` with element-wise peer values ``elementwise(y_pred, y_true)``."""
    inputs = _pair(rng)
    if keras_fn is not None:
        check_agree(
            f"{src} vs keras", _per_example(elementwise, "none")(inputs, [])[0],
            keras_value(keras_fn, inputs["y_true"], inputs["y_pred"]), rtol=keras_rtol,
        )
    for reduction in ("none", "mean", "sum"):
        yield case(
            f"typical_{reduction}", inputs, {**params, "reduction": reduction},
            _per_example(elementwise, reduction), source=src, wrt=BOTH,
        )
    yield case(
        "rank3_none", _pair(rng, (2, 3, 4)), {**params, "reduction": "none"},
        _per_example(elementwise, "none"), source=src,
    )
    yield case(
        "large_values_mean", _scaled(inputs, large), {**params, "reduction": "mean"},
        _per_example(elementwise, "mean"), source=src, wrt=BOTH, note=f"values ~{large:g}",
    )
    for dtype in ("float16", "bfloat16"):
        yield case(
            f"{dtype}_none", _scaled(inputs, half_scale), {**params, "reduction": "none"},
            _per_example(elementwise, "none"), source=src, dtype=dtype, wrt=BOTH,
        )
        yield case(
            f"{dtype}_mean", inputs, {**params, "reduction": "mean"},
            _per_example(elementwise, "mean"), source=src, dtype=dtype,
        )


# --- point losses -------------------------------------------------------------------------


@builds("mean_absolute_error")
def mean_absolute_error_cases(rng):
    import keras
    import torch.nn.functional as F

    def l1(y_pred, y_true):
        return F.l1_loss(y_pred, y_true, reduction="none")

    src = "torch.nn.functional.l1_loss(reduction='none').mean(-1) (float64), equal to keras.losses.mean_absolute_error"
    yield from _common_cases(rng, l1, {}, src, keras_fn=keras.losses.mean_absolute_error)


@builds("huber_loss")
def huber_loss_cases(rng):
    import keras
    import torch.nn.functional as F

    def huber(delta):
        return lambda y_pred, y_true: F.huber_loss(y_pred, y_true, reduction="none", delta=delta)

    src = "torch.nn.functional.huber_loss(reduction='none').mean(-1) (float64), equal to keras.losses.huber"
    yield from _common_cases(rng, huber(1.0), {}, src, keras_fn=keras.losses.huber)
    inputs = _pair(rng, scale=2.0)
    for delta in (0.3, 2.5):
        check_agree(
            f"huber delta={delta} vs keras", _per_example(huber(delta), "none")(inputs, [])[0],
            keras_value(lambda t, p, d=delta: keras.losses.huber(t, p, delta=d), inputs["y_true"], inputs["y_pred"]),
        )
        yield case(
            f"delta_{delta}_none", inputs, {"delta": delta, "reduction": "none"},
            _per_example(huber(delta), "none"), source=src, wrt=BOTH,
        )
    yield case(
        "huge_errors_delta_10_sum", _scaled(inputs, 1e18), {"delta": 10.0, "reduction": "sum"},
        _per_example(huber(10.0), "sum"), source=src, wrt=BOTH,
        note="errors ~1e18: their squares overflow float32, the loss does not",
    )


@builds("smooth_l1_loss")
def smooth_l1_loss_cases(rng):
    import torch.nn.functional as F

    def smooth(beta):
        return lambda y_pred, y_true: F.smooth_l1_loss(y_pred, y_true, reduction="none", beta=beta)

    src = "torch.nn.functional.smooth_l1_loss(reduction='none').mean(-1) (float64)"
    yield from _common_cases(rng, smooth(1.0), {}, src)
    inputs = _pair(rng, scale=2.0)
    for beta in (0.0, 0.4, 3.0):
        yield case(
            f"beta_{beta}_none", inputs, {"beta": beta, "reduction": "none"},
            _per_example(smooth(beta), "none"), source=src, wrt=BOTH,
            note="beta=0 is the L1 loss" if beta == 0.0 else "",
        )
    yield case(
        "huge_errors_sum", _scaled(inputs, 1e18), {"beta": 0.5, "reduction": "sum"},
        _per_example(smooth(0.5), "sum"), source=src, wrt=BOTH,
        note="errors ~1e18: their squares overflow float32, the loss does not",
    )


def _log_cosh(y_pred, y_true):
    """log cosh e = |e| + softplus(−2|e|) − log 2 in float64 (exact for any e; torch's
    log(cosh(e)) overflows beyond |e| ≈ 710)."""
    import math

    import torch.nn.functional as F

    size = (y_pred - y_true).abs()
    return size + F.softplus(-2.0 * size) - math.log(2.0)


@builds("log_cosh_loss")
def log_cosh_loss_cases(rng):
    import keras

    src = "float64 |e| + softplus(-2|e|) - log 2 (torch autograd), equal to keras.losses.log_cosh"
    # (Keras takes log 2 in float32 even for float64 inputs: agreement to 1e-7)
    yield from _common_cases(rng, _log_cosh, {}, src, keras_fn=keras.losses.log_cosh, keras_rtol=1e-7)
    near = _pair(rng)
    near["y_true"] = (near["y_pred"] + rng.normal(scale=1e-3, size=near["y_pred"].shape)).astype(np.float32)
    yield case(
        "small_differences_none", near, {"reduction": "none"}, _per_example(_log_cosh, "none"),
        source=src, wrt=BOTH, note="|e| ~1e-3: the value ~e²/2 is kept (no cancellation against log 2)",
    )
    yield case(
        "huge_differences_none", _scaled(_pair(rng), 1e30), {"reduction": "none"},
        _per_example(_log_cosh, "none"), source=src, wrt=BOTH, note="|e| ~1e30 (cosh overflows)",
    )


def _pinball(quantile):
    """The pinball loss max(q (y − ŷ), (q − 1)(y − ŷ)) in float64 (q on the last axis)."""

    def fn(y_pred, y_true):
        import torch

        q = torch.as_tensor(np.asarray(quantile, np.float64))
        error = y_true - y_pred
        return torch.maximum(q * error, (q - 1.0) * error)

    return fn


@builds("quantile_loss")
def quantile_loss_cases(rng):
    src = "float64 pinball formula max(q(y - ŷ), (q - 1)(y - ŷ)) (torch autograd; tfa.losses.pinball_loss's formula)"
    yield from _common_cases(rng, _pinball(0.5), {}, src)
    inputs = _pair(rng, scale=2.0)
    for q in (0.1, 0.9):
        for reduction in ("none", "mean"):
            yield case(
                f"quantile_{q}_{reduction}", inputs, {"quantile": q, "reduction": reduction},
                _per_example(_pinball(q), reduction), source=src, wrt=BOTH,
            )
    per_entry = [0.05, 0.25, 0.75, 0.95]
    yield case(
        "quantile_per_entry_none", inputs, {"quantile": per_entry, "reduction": "none"},
        _per_example(_pinball(per_entry), "none"), source=src, wrt=BOTH,
        note="one quantile per last-axis entry",
    )
    yield case(
        "quantile_per_entry_array_sum", _scaled(inputs, 1e3),
        {"quantile": np.array(per_entry, np.float32), "reduction": "sum"},
        _per_example(_pinball(np.array(per_entry, np.float32)), "sum"), source=src, wrt=BOTH,
        note="quantiles as a float32 array; values ~1e3",
    )
    for dtype in ("float16", "bfloat16"):
        yield case(
            f"{dtype}_quantile_per_entry_none", inputs, {"quantile": per_entry, "reduction": "none"},
            _per_example(_pinball(per_entry), "none"), source=src, dtype=dtype, wrt=BOTH,
        )


# --- directions ---------------------------------------------------------------------------


def _optax_cosine(axis: int, reduction: str):
    import jax.numpy as jnp
    import optax

    def fn(y_pred, y_true):
        loss = optax.losses.cosine_distance(y_pred, y_true, epsilon=1e-24, axis=axis)
        return {"none": loss, "mean": jnp.mean(loss), "sum": jnp.sum(loss)}[reduction]

    return jax_reference(fn)


@builds("cosine_distance")
def cosine_distance_cases(rng):
    import keras
    import torch
    import torch.nn.functional as F

    src = "optax.losses.cosine_distance(epsilon=1e-24) (float64, jax.grad)"
    inputs = _pair(rng, (5, 4))
    ref = _optax_cosine(-1, "none")(inputs, [])[0]
    check_agree("cosine vs keras", ref - 1.0, keras_value(keras.losses.cosine_similarity, inputs["y_true"], inputs["y_pred"]))
    pred64, true64 = (torch.tensor(inputs[k], dtype=torch.float64) for k in ("y_pred", "y_true"))
    check_agree("cosine vs torch", ref, (1.0 - F.cosine_similarity(pred64, true64, dim=-1)).numpy())
    for reduction in ("none", "mean", "sum"):
        yield case(
            f"typical_{reduction}", inputs, {"reduction": reduction}, _optax_cosine(-1, reduction),
            source=src, wrt=BOTH,
        )
    rank3 = _pair(rng, (2, 3, 4))
    for axis in (0, 1):
        yield case(
            f"rank3_axis_{axis}_none", rank3, {"axis": axis, "reduction": "none"},
            _optax_cosine(axis, "none"), source=src, wrt=BOTH,
        )
    zero = {k: v.copy() for k, v in inputs.items()}
    zero["y_pred"][1] = 0.0
    zero["y_true"][3] = 0.0
    zero["y_pred"][4] = 1e-14  # norm 2e-14: below the 1e-12 floor
    yield case(
        "zero_and_tiny_vectors_none", zero, {"reduction": "none"}, _optax_cosine(-1, "none"),
        source=src, wrt=BOTH, note="zero and sub-floor vectors give 1 with a finite gradient",
    )
    yield case(
        "large_vectors_none", _scaled(inputs, 1e25), {"reduction": "none"}, _optax_cosine(-1, "none"),
        source=src, wrt=BOTH, note="entries ~1e25: squared norms overflow float32, the loss does not",
    )
    yield case(
        "small_vectors_mean", _scaled(inputs, 1e-11), {"reduction": "mean"}, _optax_cosine(-1, "mean"),
        source=src, wrt=BOTH, note="entries ~1e-11: norms just above the 1e-12 floor",
    )
    for dtype in ("float16", "bfloat16"):
        yield case(
            f"{dtype}_none", inputs, {"reduction": "none"}, _optax_cosine(-1, "none"),
            source=src, dtype=dtype, wrt=BOTH,
        )

"""Case builders: one function per loss, computing expected values and gradients
from a peer library or a float64 formula.

Add cases for a loss in the module of its family (``conformance/cases/<family>.py``)::

    @builds("cross_entropy")
    def cross_entropy_cases(rng):
        logits = rng.normal(size=(6, 5)).astype(np.float32)
        labels = rng.integers(0, 5, size=6)
        yield case(
            "typical",
            {"y_pred": logits, "y_true": labels},
            {"reduction": "mean"},
            torch_reference(lambda y_pred, y_true: F.cross_entropy(y_pred, y_true)),
            source="torch.nn.functional.cross_entropy",
        )

then run ``python -m conformance.generate``. ``rng`` is seeded from the loss name, so
adding cases to one loss leaves every other file unchanged. References run in float64
(torch tensors, or JAX arrays with ``jax_enable_x64``) and receive the inputs by the
loss' tensor names; the gradient is that of the sum of the output.
"""

from __future__ import annotations

import importlib
import pkgutil
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from multiloss.verify.encoding import EXPECTED_DIGITS, encode_array, encode_param

Reference = Callable[[dict[str, np.ndarray], list[str]], tuple[np.ndarray, dict[str, np.ndarray]]]
Builder = Callable[[np.random.Generator], Iterable[dict]]

#: Default tolerances per input dtype (``|actual - expected| <= atol + rtol * |expected|``).
#: float32 is computed and returned in float32. float16 / bfloat16 inputs are computed
#: in float32 and the result (and the gradient) is rounded to the input dtype: one
#: rounding costs up to 2**-11 (float16) or 2**-8 (bfloat16) relative, and the gradient
#: goes through the rounded upstream value once more.
TOLERANCES = {
    "float32": {"rtol": 1e-5, "atol": 1e-6},
    "float64": {"rtol": 1e-5, "atol": 1e-6},
    "float16": {"rtol": 2e-3, "atol": 1e-4},
    "bfloat16": {"rtol": 1.6e-2, "atol": 1e-3},
}

BUILDERS: dict[str, Builder] = {}


def builds(loss: str) -> Callable[[Builder], Builder]:
    """Register ``fn(rng) -> iterable of case dicts`` as the cases of ``loss``."""

    def decorate(fn: Builder) -> Builder:
        if loss in BUILDERS:
            raise ValueError(f"cases for {loss!r} are defined twice")
        BUILDERS[loss] = fn
        return fn

    return decorate


def load_builders() -> dict[str, Builder]:
    """Import every module of this package (each registers its builders)."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    return dict(BUILDERS)


def rng_for(loss: str) -> np.random.Generator:
    """A generator seeded from the loss name (stable across runs and machines)."""
    return np.random.default_rng(zlib.crc32(loss.encode()))


def round_to(array: np.ndarray, dtype: str) -> np.ndarray:
    """Floating ``array`` rounded to ``dtype`` and returned as float32 (exactly representable)."""
    array = np.asarray(array)
    if array.dtype.kind != "f" or dtype in ("float32", "float64"):
        return array
    if dtype == "float16":
        return array.astype(np.float16).astype(np.float32)
    if dtype == "bfloat16":
        import ml_dtypes

        return array.astype(ml_dtypes.bfloat16).astype(np.float32)
    raise ValueError(f"unsupported case dtype {dtype!r}")


def case(
    name: str,
    inputs: dict[str, Any],
    params: dict[str, Any],
    reference: Reference,
    *,
    source: str,
    dtype: str = "float32",
    wrt: Iterable[str] | None = None,
    tol: dict[str, float] | None = None,
    grad_tol: dict[str, float] | None = None,
    expected_value: Any = None,
    note: str = "",
    output: int | None = None,
) -> dict:
    """One reference case, ready to be written as JSON.

    ``inputs`` maps the loss' tensor names to arrays (floating ones as float32; with
    ``dtype="float16"``/``"bfloat16"`` they are rounded to that dtype first and the
    adapters receive them in it). ``wrt`` names the inputs whose gradients are
    compared (default: the first floating input). ``expected_value`` pins a published
    value (e.g. a reference row of API.md); the reference must reproduce it within ``tol``.
    ``output`` selects one element of a tuple-returning function (the reference returns
    that element only); the key is written only when given.
    """
    inputs = {k: round_to(np.asarray(v), dtype) for k, v in inputs.items()}
    if wrt is None:
        wrt = [next(k for k, v in inputs.items() if v.dtype.kind == "f")]
    wrt = list(wrt)
    tol = dict(tol or TOLERANCES[dtype])
    grad_tol = dict(grad_tol or tol)
    value, grads = reference(inputs, wrt)
    if expected_value is not None:
        published = np.asarray(expected_value, np.float64)
        if not np.allclose(value, published, rtol=tol["rtol"], atol=tol["atol"]):
            raise AssertionError(f"{name}: reference {value} differs from published {published}")
        value = published
    extra = {} if output is None else {"output": output}
    return {
        **extra,
        "name": name,
        "source": source,
        "note": note,
        "dtype": dtype,
        "inputs": {k: encode_array(v) for k, v in inputs.items()},
        "params": {k: encode_param(v) for k, v in params.items()},
        "wrt": wrt,
        "expected": {
            "value": encode_array(np.asarray(value, np.float64), EXPECTED_DIGITS),
            "grads": {k: encode_array(np.asarray(grads[k], np.float64), EXPECTED_DIGITS) for k in wrt},
        },
        "tolerance": {"value": tol, "grad": grad_tol},
    }


def check_agree(name: str, a: Any, b: Any, rtol: float = 1e-9, atol: float = 1e-12) -> None:
    """Raise unless two independent references agree (used to cross-check peers)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or not np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True):
        raise AssertionError(f"{name}: references disagree\n{a}\n{b}")


def torch_reference(fn: Callable[..., Any], reduction: str = "none") -> Reference:
    """``fn(**tensors)`` on float64 torch tensors (integer inputs as int64), autograd gradients.

    ``reduction="mean"``/``"sum"`` reduces an unreduced formula's output.
    """

    def compute(inputs: dict[str, np.ndarray], wrt: list[str]):
        import torch

        tensors = {}
        for name, array in inputs.items():
            if array.dtype.kind == "f":
                tensors[name] = torch.tensor(array, dtype=torch.float64, requires_grad=name in wrt)
            else:
                tensors[name] = torch.tensor(array)
        out = fn(**tensors)
        if reduction != "none":
            out = {"mean": out.mean, "sum": out.sum}[reduction]()
        grads = {}
        if wrt:
            raw = torch.autograd.grad(out.sum(), [tensors[k] for k in wrt], allow_unused=True)
            for k, g in zip(wrt, raw, strict=True):
                grads[k] = np.zeros(inputs[k].shape) if g is None else g.numpy()
        return out.detach().numpy(), grads

    return compute


def jax_reference(fn: Callable[..., Any]) -> Reference:
    """``fn(**arrays)`` on float64 JAX arrays (needs ``jax_enable_x64``), ``jax.grad`` gradients."""

    def compute(inputs: dict[str, np.ndarray], wrt: list[str]):
        import jax
        import jax.numpy as jnp

        if not jax.config.read("jax_enable_x64"):
            raise RuntimeError("jax_reference needs jax_enable_x64 (set by conformance.generate)")
        arrays = {
            k: jnp.asarray(v, jnp.float64 if v.dtype.kind == "f" else None) for k, v in inputs.items()
        }

        def total(diff):
            out = fn(**{**arrays, **diff})
            return jnp.sum(out), out

        grads, out = jax.grad(total, has_aux=True)({k: arrays[k] for k in wrt})
        return np.asarray(out), {k: np.asarray(g) for k, g in grads.items()}

    return compute


def keras_value(fn: Callable[..., Any], *arrays: Any) -> np.ndarray:
    """A ``keras.losses`` function's value on float64 NumPy inputs (to cross-check a
    reference; the generator runs Keras on the tensorflow backend)."""
    import keras

    out = fn(*[np.asarray(a, np.float64) for a in arrays])
    return np.asarray(keras.ops.convert_to_numpy(out), np.float64)


def build_all(losses: Iterable[str] | None = None) -> Iterator[tuple[str, list[dict]]]:
    """``(loss, cases)`` for every builder (or the named ones), cases with unique names."""
    builders = load_builders()
    for loss in sorted(losses or builders):
        cases = list(builders[loss](rng_for(loss)))
        names = [c["name"] for c in cases]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"{loss}: case names used twice: {duplicated}")
        yield loss, cases

"""Run one reference case on one adapter and measure its errors against the reference.

:func:`run_case` calls the loss through an adapter (imported already) on the case's
inputs, with the gradient of the summed output, and compares value and gradients with
the expected ones (:func:`measure`) into a :class:`CaseResult`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from multiloss.verify import frameworks
from multiloss.verify.reference import Case


@dataclasses.dataclass
class Error:
    """Worst absolute and relative error of an actual array against an expected one."""

    abs: float = 0.0
    rel: float = 0.0
    ok: bool = True
    message: str = ""
    #: the worst error as a fraction of its tolerance (``<= 1`` passes)
    of_tolerance: float = 0.0

    def merge(self, other: Error) -> Error:
        return Error(
            max(self.abs, other.abs),
            max(self.rel, other.rel),
            self.ok and other.ok,
            self.message or other.message,
            max(self.of_tolerance, other.of_tolerance),
        )


def measure(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float, what: str) -> Error:
    """Compare with ``|actual - expected| <= atol + rtol * |expected|`` (NaN matches NaN).

    The relative error is taken over the entries with ``|expected| >= atol`` (below
    that the absolute error is what matters).
    """
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    if actual.shape != expected.shape:
        message = f"{what}: shape {actual.shape}, expected {expected.shape}"
        return Error(math.inf, math.inf, False, message, math.inf)
    both_nan = np.isnan(actual) & np.isnan(expected)
    with np.errstate(all="ignore"):
        diff = np.where(both_nan, 0.0, np.abs(actual - expected))
        diff = np.where(np.isnan(diff), math.inf, diff)
        exact = actual == expected  # equal infinities
        diff = np.where(exact, 0.0, diff)
        bound = atol + rtol * np.abs(expected)
        big = np.abs(expected) >= atol
        rel = diff[big] / np.abs(expected[big])
        bound = np.where(np.isfinite(bound), bound, 0.0)
        ratio = np.where(diff == 0.0, 0.0, diff / bound)
    abs_err = float(diff.max()) if diff.size else 0.0
    rel_err = float(rel.max()) if rel.size else 0.0
    of_tolerance = float(ratio.max()) if ratio.size else 0.0
    ok = bool(np.all(diff <= bound))
    message = ""
    if not ok:
        worst = np.unravel_index(int(np.argmax(diff - bound)), diff.shape) if diff.ndim else ()
        message = (
            f"{what}: max abs err {abs_err:.3g} (at {tuple(int(i) for i in worst)}: got "
            f"{actual[worst]:.9g}, expected {expected[worst]:.9g}; "
            f"tolerance rtol={rtol:g}, atol={atol:g})"
        )
    return Error(abs_err, rel_err, ok, message, of_tolerance)


@dataclasses.dataclass
class CaseResult:
    case: Case
    adapter: str
    value: Error
    grad: Error

    @property
    def ok(self) -> bool:
        return self.value.ok and self.grad.ok

    @property
    def message(self) -> str:
        return self.value.message or self.grad.message


def with_core_reduction(spec: Any, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with the core default ``reduction`` filled in, so that every adapter
    computes the same thing (the Keras functions default to ``"none"``, like Keras')."""
    if spec.has_reduction and "reduction" not in params:
        return {**params, "reduction": spec.params["reduction"]}
    return params


def _call(adapter: str, case: Case, spec: Any) -> tuple[np.ndarray, list[np.ndarray]]:
    fn = frameworks.adapter_function(adapter, case.loss)
    args = [case.inputs[name] for name in spec.tensors]
    wrt = [spec.tensors.index(name) for name in case.wrt]
    dtype = None if case.dtype == "float32" else case.dtype
    # static arguments (num_sampled, ...) are Python values, passed by name
    static = {name: np.asarray(case.inputs[name]).item() for name in spec.static}
    params = {**static, **with_core_reduction(spec, case.params)}
    if case.output is not None:
        return frameworks.value_and_grad(
            adapter, lambda *t: fn(*t, **params)[case.output], args, wrt, dtype=dtype
        )
    return frameworks.value_and_grad(adapter, lambda *t: fn(*t, **params), args, wrt, dtype=dtype)


def run_case(case: Case, adapter: str) -> CaseResult:
    """Run one case on one adapter (imported already) and measure its errors."""
    from multiloss.core.registry import get_spec

    try:
        spec = get_spec(case.loss)
        value, grads = _call(adapter, case, spec)
    except Exception as exc:  # a loss that raises fails its case, with the reason
        error = Error(math.inf, math.inf, False, f"raised {type(exc).__name__}: {exc}", math.inf)
        return CaseResult(case, adapter, error, Error())
    tol = case.tolerance
    value_error = measure(value, case.value, tol["value"]["rtol"], tol["value"]["atol"], "value")
    grad_error = Error()
    for name, grad in zip(case.wrt, grads, strict=True):
        grad_error = grad_error.merge(
            measure(
                grad, case.grads[name], tol["grad"]["rtol"], tol["grad"]["atol"],
                f"gradient wrt {name}",
            )
        )
    return CaseResult(case, adapter, value_error, grad_error)

"""``multiloss.compare``: one loss on the user's own data in every installed framework.

For a model moving between frameworks: compute the loss and its gradients with the
Keras (on its configured backend), torch, jax and tensorflow adapters on the same
NumPy inputs, and report each framework's value and its largest difference from the
others, so the user can show the loss is unchanged by the move.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from multiloss import frameworks as _frameworks

#: Agreement tolerances by input dtype (``|x - reference| <= atol + rtol * |reference|``).
DEFAULT_TOLERANCES = {
    "float64": (1e-5, 1e-6),  # JAX without jax_enable_x64 computes in float32
    "float32": (1e-5, 1e-6),
    "float16": (2e-3, 1e-4),
    "bfloat16": (1.6e-2, 1e-3),
}


def adapter_label(adapter: str) -> str:
    """``keras (torch)`` for the Keras adapter, the framework name otherwise."""
    return f"keras ({_frameworks.keras_backend()})" if adapter == "keras" else adapter


def _max_abs(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        return math.inf
    if a.size == 0:
        return 0.0
    with np.errstate(all="ignore"):
        diff = np.abs(a - b)
    diff = np.where(np.isnan(a) & np.isnan(b), 0.0, diff)
    return float(np.nanmax(np.where(np.isnan(diff), math.inf, diff)))


def _within(a: np.ndarray, ref: np.ndarray, rtol: float, atol: float) -> bool:
    return a.shape == ref.shape and bool(np.allclose(a, ref, rtol=rtol, atol=atol, equal_nan=True))


def format_table(rows: list[list[str]]) -> str:
    """Left-aligned columns, a rule under the header row."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _summary(value: np.ndarray) -> str:
    if value.ndim == 0:
        return f"{float(value):.9g}"
    flat = value.reshape(-1)
    shown = ", ".join(f"{v:.7g}" for v in flat[:4])
    more = ", ..." if flat.size > 4 else ""
    return f"[{shown}{more}] shape {tuple(value.shape)}"


def _json_value(value: Any) -> Any:
    """A parameter as a JSON value: NumPy arrays and tuples as lists, NumPy scalars as
    numbers, inf / nan as the strings ``"inf"`` / ``"nan"``, anything else as its repr."""
    if isinstance(value, np.ndarray | np.generic):
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    return repr(value)


@dataclasses.dataclass
class Comparison:
    """Values and gradients of one loss in each framework, and their differences.

    ``value_diff[f]`` / ``grad_diff[f][name]`` are the largest absolute differences of
    framework ``f`` from the :attr:`reference` framework (the first that ran);
    :attr:`max_value_diff` / :attr:`max_grad_diff` the largest between any two.
    """

    loss: str
    params: dict[str, Any]
    inputs: dict[str, str]  # tensor name -> "dtype shape"
    wrt: list[str]
    values: dict[str, np.ndarray]
    grads: dict[str, dict[str, np.ndarray]]
    errors: dict[str, str]
    skipped: dict[str, str]
    rtol: float
    atol: float

    @property
    def frameworks(self) -> list[str]:
        return list(self.values)

    @property
    def reference(self) -> str | None:
        return next(iter(self.values), None)

    @property
    def value_diff(self) -> dict[str, float]:
        if self.reference is None:
            return {}
        ref = self.values[self.reference]
        return {f: _max_abs(v, ref) for f, v in self.values.items()}

    @property
    def grad_diff(self) -> dict[str, dict[str, float]]:
        if self.reference is None:
            return {}
        ref = self.grads[self.reference]
        return {f: {k: _max_abs(g[k], ref[k]) for k in self.wrt} for f, g in self.grads.items()}

    @property
    def max_value_diff(self) -> float:
        vals = list(self.values.values())
        return max((_max_abs(a, b) for a in vals for b in vals), default=0.0)

    @property
    def max_grad_diff(self) -> float:
        grads = list(self.grads.values())
        return max((_max_abs(a[k], b[k]) for a in grads for b in grads for k in self.wrt), default=0.0)

    @property
    def ok(self) -> bool:
        """Every framework ran and agrees with the reference within the tolerance."""
        if self.errors or self.reference is None:
            return False
        ref, ref_grads = self.values[self.reference], self.grads[self.reference]
        return all(
            _within(v, ref, self.rtol, self.atol)
            and all(_within(self.grads[f][k], ref_grads[k], self.rtol, self.atol) for k in self.wrt)
            for f, v in self.values.items()
        )

    def to_dict(self) -> dict:
        def number(x: float) -> float | str:
            return x if math.isfinite(x) else str(x)

        return {
            "loss": self.loss,
            "params": {k: _json_value(v) for k, v in self.params.items()},
            "inputs": self.inputs,
            "ok": self.ok,
            "reference": self.reference,
            "tolerance": {"rtol": self.rtol, "atol": self.atol},
            "frameworks": {
                f: {
                    "value": self.values[f].tolist(),
                    "max_value_diff": number(self.value_diff[f]),
                    "max_grad_diff": {k: number(d) for k, d in self.grad_diff[f].items()},
                }
                for f in self.values
            },
            "errors": self.errors,
            "skipped": self.skipped,
            "max_value_diff": number(self.max_value_diff),
            "max_grad_diff": number(self.max_grad_diff),
        }

    def __str__(self) -> str:
        args = ", ".join(f"{k}: {v}" for k, v in self.inputs.items())
        params = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        lines = [f"{self.loss}({args}{'; ' + params if params else ''})", ""]
        ref = self.reference or "-"
        header = ["framework", "value", f"max |Δ value| vs {ref}"]
        header += [f"max |Δ grad {k}| vs {ref}" for k in self.wrt]
        rows = [header]
        value_diff, grad_diff = self.value_diff, self.grad_diff
        for f in self.values:
            rows.append(
                [f, _summary(self.values[f]), f"{value_diff[f]:.3g}"]
                + [f"{grad_diff[f][k]:.3g}" for k in self.wrt]
            )
        for f, why in self.errors.items():
            rows.append([f, f"ERROR {why}", "-"] + ["-"] * len(self.wrt))
        lines.append(format_table(rows))
        for f, why in self.skipped.items():
            lines.append(f"skipped {f}: {why}")
        verdict = "AGREE" if self.ok else "DIFFER"
        lines += [
            "",
            f"{verdict}: max difference between frameworks: value {self.max_value_diff:.3g}, "
            f"gradient {self.max_grad_diff:.3g} (tolerance rtol={self.rtol:g}, atol={self.atol:g})",
        ]
        return "\n".join(lines)


def compare(
    loss_name: str,
    *tensors: Any,
    frameworks: Sequence[str] | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    **params: Any,
) -> Comparison:
    """Compute ``loss_name`` and its gradients in every installed framework.

    Args:
        loss_name: a registered loss (``multiloss.available_losses()``).
        *tensors: its tensor arguments as NumPy arrays (or anything ``np.asarray``
            takes) in the core order, prediction first: ``compare("cross_entropy",
            y_pred, y_true)``. They may also be passed by name (``sp=..., sn=...``).
        frameworks: adapters to use (default: every installed one of ``keras``,
            ``torch``, ``jax``, ``tensorflow``; Keras runs on its configured backend).
        rtol, atol: agreement tolerance (default by input dtype, see
            :data:`DEFAULT_TOLERANCES`).
        **params: the loss' keyword parameters; ``reduction`` defaults to the core
            default (``"mean"``) in every framework, Keras included.

    Returns:
        A :class:`Comparison`; ``print()`` it for a table of per-framework values and
        their differences. Gradients are those of the summed loss with respect to
        every floating tensor argument.

    Example::

        import multiloss, numpy as np
        logits = np.random.randn(8, 5).astype("float32")
        labels = np.random.randint(0, 5, 8)
        print(multiloss.compare("cross_entropy", logits, labels, label_smoothing=0.1))
    """
    from multiloss.conformance import select_adapters, with_core_reduction
    from multiloss.core.registry import get_spec

    spec = get_spec(loss_name)
    named = {k: params.pop(k) for k in spec.tensors if k in params}
    params = with_core_reduction(spec, params)
    if len(tensors) > len(spec.tensors):
        raise TypeError(f"{loss_name} takes {len(spec.tensors)} tensors {spec.tensors}, got {len(tensors)}")
    arrays = dict(zip(spec.tensors[: len(tensors)], tensors, strict=True))
    both = sorted(set(arrays) & set(named))
    if both:
        raise TypeError(f"{loss_name}: tensor(s) {both} given both by position and by name")
    arrays.update(named)
    absent = [k for k in spec.tensors if k not in arrays]
    if absent:
        raise TypeError(f"{loss_name} needs the tensor(s) {absent} (takes {spec.tensors})")
    args = [_to_numpy(arrays[k]) for k in spec.tensors]
    inputs = {k: f"{a.dtype} {tuple(a.shape)}" for k, a in zip(spec.tensors, args, strict=True)}
    wrt = [i for i, a in enumerate(args) if _is_floating(a)]
    dtype = str(args[wrt[0]].dtype) if wrt else "float32"
    if dtype in ("float16", "bfloat16"):  # passed as float32 (exact) and cast in each framework
        args = [a.astype(np.float32) if _is_floating(a) else a for a in args]
    default_rtol, default_atol = DEFAULT_TOLERANCES.get(dtype, DEFAULT_TOLERANCES["float32"])
    adapters, skipped = select_adapters(frameworks)
    _frameworks.import_adapters(adapters)
    values, grads, errors = {}, {}, {}
    for adapter in adapters:
        label = adapter_label(adapter)
        fn = _frameworks.adapter_function(adapter, loss_name)
        try:
            value, g = _frameworks.value_and_grad(
                adapter, lambda *t, fn=fn: fn(*t, **params), args, wrt,
                dtype=None if dtype in ("float32", "float64") else dtype,
            )
        except Exception as exc:  # report it next to the frameworks that ran
            errors[label] = f"{type(exc).__name__}: {exc}"
            continue
        values[label] = value
        grads[label] = {spec.tensors[i]: gi for i, gi in zip(wrt, g, strict=True)}
    return Comparison(
        loss=loss_name,
        params=params,
        inputs=inputs,
        wrt=[spec.tensors[i] for i in wrt],
        values=values,
        grads=grads,
        errors=errors,
        skipped=skipped,
        rtol=default_rtol if rtol is None else rtol,
        atol=default_atol if atol is None else atol,
    )


def _is_floating(array: np.ndarray) -> bool:
    return array.dtype.kind == "f" or str(array.dtype) == "bfloat16"


def _to_numpy(x: Any) -> np.ndarray:
    """An array from NumPy, a Python sequence or a framework tensor."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "detach") or hasattr(x, "numpy"):
        return _frameworks.to_numpy(x)
    return np.asarray(x)


"""``multiloss compare`` and :func:`multiloss.compare`: one loss on the user's own data in
every installed framework.

For a model moving between frameworks: compute the loss and its gradients with the
Keras (on its configured backend), torch, jax and tensorflow adapters on the same
NumPy inputs, and report each framework's value and its largest difference from the
others, so the user can show the loss is unchanged by the move. :func:`compare` is the
Python API, :func:`compare_command` the command line (arrays from an ``.npz`` file).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from multiloss.verify import frameworks as _frameworks
from multiloss.verify.console import WIDTH, UsageError, format_table, wrap
from multiloss.verify.logs import quiet_native_logs
from multiloss.verify.runner import with_core_reduction

#: Agreement tolerances by input dtype (``|x - reference| <= atol + rtol * |reference|``).
DEFAULT_TOLERANCES = {
    "float64": (1e-5, 1e-6),  # JAX without jax_enable_x64 computes in float32
    "float32": (1e-5, 1e-6),
    "float16": (2e-3, 1e-4),
    "bfloat16": (1.6e-2, 1e-3),
}


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


def _head(value: np.ndarray) -> str:
    """A scalar to 9 digits, an array as its first four entries (``[1, 2, 3, 4, ...]``)."""
    if value.ndim == 0:
        return f"{float(value):.9g}"
    flat = value.reshape(-1)
    shown = ", ".join(f"{v:.7g}" for v in flat[:4])
    return f"[{shown}{', ...' if flat.size > 4 else ''}]"


def _param_text(value: Any) -> str:
    """A parameter in the call line: arrays as their first entries and shape."""
    if isinstance(value, np.ndarray):
        return f"{_head(value)} shape {tuple(value.shape)}" if value.ndim else _head(value)
    return repr(value)


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
        pairs = ((a[k], b[k]) for a in grads for b in grads for k in self.wrt)
        return max((_max_abs(a, b) for a, b in pairs), default=0.0)

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

    def _tables(self) -> list[str]:
        """The values table and the differences table (wrapped into blocks of columns
        when many gradients make it wider than the terminal)."""
        values = [["framework", "value", "shape"]]
        values += [[f, _head(v), str(tuple(v.shape))] for f, v in self.values.items()]
        diffs = [["framework", "value"] + [f"grad {k}" for k in self.wrt]]
        value_diff, grad_diff = self.value_diff, self.grad_diff
        for f in self.values:
            diffs.append([f, f"{value_diff[f]:.3g}"] + [f"{grad_diff[f][k]:.3g}" for k in self.wrt])
        return [
            format_table(values, WIDTH), "",
            *wrap(f"max |Δ|: the largest absolute difference from the first framework, "
                  f"{self.reference}"),
            format_table(diffs, WIDTH),
        ]

    def __str__(self) -> str:
        args = ", ".join(f"{k}: {v}" for k, v in self.inputs.items())
        params = ", ".join(f"{k}={_param_text(v)}" for k, v in self.params.items())
        lines = [*wrap(f"{self.loss}({args}{'; ' + params if params else ''})", indent="    "), ""]
        lines += self._tables() if self.values else ["no framework ran"]
        notes = [f"skipped {f}: {why}" for f, why in self.skipped.items()]
        notes += [f"ERROR {f}: {why}" for f, why in self.errors.items()]
        if notes:
            lines += [""] + [line for note in notes for line in wrap(note, indent="    ")]
        lines += [""] + wrap(
            f"tolerance: rtol={self.rtol:g}, atol={self.atol:g} "
            "(agree: |Δ| <= atol + rtol * |first framework's|)"
        )
        lines.append(
            f"{'AGREE' if self.ok else 'DIFFER'}: max difference between frameworks: "
            f"value {self.max_value_diff:.3g}, gradient {self.max_grad_diff:.3g}"
        )
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
    from multiloss.core.registry import get_spec

    spec = get_spec(loss_name)
    named = {k: params.pop(k) for k in spec.tensors if k in params}
    params = with_core_reduction(spec, params)
    if len(tensors) > len(spec.tensors):
        raise TypeError(
            f"{loss_name} takes {len(spec.tensors)} tensors {spec.tensors}, got {len(tensors)}"
        )
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
    adapters, skipped = _frameworks.select_adapters(frameworks)
    _frameworks.import_adapters(adapters)
    values, grads, errors = {}, {}, {}
    for adapter in adapters:
        label = _frameworks.adapter_label(adapter)
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


# --- the command line: arrays from an .npz file ------------------------------------------


def check_param_names(spec: Any, params: dict[str, Any]) -> None:
    """A :class:`UsageError` naming the first parameter the loss does not take, with the
    closest match."""
    known = [*spec.params, *spec.static]
    for name in params:
        if name in known or name in spec.tensors:
            continue
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        takes = f"its parameters are {', '.join(known)}" if known else "it takes no parameters"
        raise UsageError(f"unknown parameter {name!r} for {spec.name} ({takes}){hint}")


def _load_npz(path: str, spec: Any, params: dict[str, Any]) -> dict[str, np.ndarray]:
    """The arrays of ``path`` by name; ``np.savez(f, a, b)``'s ``arr_0, arr_1`` are the
    loss' tensors in order. Arrays the loss does not take, or tensors missing from both
    the file and ``params``, are a :class:`UsageError`."""
    try:
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
    except (ValueError, OSError, EOFError) as exc:  # EOFError: an empty file
        raise UsageError(str(exc)) from exc
    if all(k.startswith("arr_") for k in arrays) and len(arrays) == len(spec.tensors):
        arrays = {name: arrays[f"arr_{i}"] for i, name in enumerate(spec.tensors)}
    unknown = sorted(set(arrays) - set(spec.arguments) - set(spec.params))
    missing = [k for k in spec.arguments if k not in arrays and k not in params]
    if unknown or missing:
        raise UsageError(
            f"{path} must hold arrays named {list(spec.tensors)} "
            f"(and optionally parameters {sorted(spec.params)}); "
            f"missing {missing}, unexpected {unknown}"
        )
    return arrays


def compare_file(
    loss_name: str,
    path: str,
    params: dict[str, Any],
    *,
    frameworks: Sequence[str] | None = None,
    rtol: float | None = None,
    atol: float | None = None,
) -> Comparison:
    """:func:`compare` on the arrays of an ``.npz`` file (named like the loss' tensor
    arguments; parameters may be stored there too, ``params`` win). Every problem with
    the request (an unknown loss, parameter or framework, an unreadable file, missing
    arrays) is a :class:`UsageError`, raised before any framework runs when it can be."""
    from multiloss.core.registry import get_spec

    try:
        spec = get_spec(loss_name)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    check_param_names(spec, params)
    arrays = _load_npz(path, spec, params)
    # static arguments (num_sampled, ...) and parameters stored as 0-d arrays: Python values
    stored = {k: v.item() if k in spec.static else v for k, v in arrays.items()
              if k in spec.params or k in spec.static}
    # a tensor given as --param (a short label list, say) wins over the file's
    tensors = {k: np.asarray(params[k]) if k in params else arrays[k] for k in spec.tensors}
    params = {k: v for k, v in params.items() if k not in spec.tensors}
    try:
        return compare(loss_name, frameworks=frameworks, rtol=rtol, atol=atol,
                       **tensors, **{**stored, **params})
    except (ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from exc


def compare_command(
    loss_name: str,
    path: str,
    params: dict[str, Any],
    *,
    frameworks: Sequence[str] | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    as_json: bool = False,
) -> bool:
    """``multiloss compare``: :func:`compare_file` with TensorFlow's C++ log lines dropped
    from stderr; print the comparison (text or JSON). True when the frameworks agree."""
    with quiet_native_logs():
        result = compare_file(loss_name, path, params, frameworks=frameworks, rtol=rtol, atol=atol)
    print(json.dumps(result.to_dict(), indent=1) if as_json else result)
    return result.ok

"""The conformance runner: every reference case on every installed adapter.

Reference cases live in ``multiloss/conformance_data/<loss>.json`` (shipped with the
package). Each case holds the inputs of one call, its parameters, the input dtype,
the expected value and the expected gradients of the summed output (computed by
``conformance/generate.py`` from peer libraries or float64 formulas, never from
multiloss) and the tolerances. :func:`run` executes the cases in one process on the
Keras (on its configured backend), torch, jax and tensorflow adapters and returns a
:class:`Report`; ``multiloss check`` prints it, the test suite asserts on it.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import json
import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from multiloss import frameworks

#: Digits kept for expected values: far below every tolerance, and stable when the
#: references are recomputed on another machine.
EXPECTED_DIGITS = 10
_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


# --------------------------------------------------------------------------- encoding
def _encode_float(value: float, float32: bool, digits: int | None) -> float | str:
    if not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if digits is not None:
        return float(f"{value:.{digits}g}")
    if float32:
        short = float(str(np.float32(value)))  # shortest text that reads back exactly
        if np.float32(short) == np.float32(value):
            return short
    return float(value)


def encode_array(array: Any, digits: int | None = None) -> dict:
    """An array as ``{"dtype", "shape", "data"}`` (flat data; non-finite floats as text).

    Floats are written exactly unless ``digits`` (significant digits) is given.
    """
    array = np.asarray(array)
    flat = array.reshape(-1).tolist()
    if array.dtype.kind == "f":
        float32 = array.dtype == np.float32
        data: list = [_encode_float(v, float32, digits) for v in flat]
    elif array.dtype.kind == "b":
        data = [bool(v) for v in flat]
    elif array.dtype.kind in "iu":
        data = [int(v) for v in flat]
    else:
        raise TypeError(f"cannot encode an array of dtype {array.dtype}")
    return {"dtype": str(array.dtype), "shape": list(array.shape), "data": data}


def decode_array(encoded: dict) -> np.ndarray:
    data = [_NONFINITE.get(v, v) if isinstance(v, str) else v for v in encoded["data"]]
    dtype = np.dtype(encoded["dtype"])
    if dtype.kind == "f":
        array = np.asarray(data, np.float64).astype(dtype)
    else:
        array = np.asarray(data, dtype)
    return array.reshape(encoded["shape"])


def encode_param(value: Any) -> Any:
    """A loss parameter as JSON: arrays and tuples are tagged, lists kept as lists."""
    if isinstance(value, np.ndarray):
        return {"__array__": encode_array(value)}
    if isinstance(value, tuple):
        return {"__tuple__": [encode_param(v) for v in value]}
    if isinstance(value, list):
        return [encode_param(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        raise TypeError("dict parameters are not supported in reference cases")
    return value


def decode_param(value: Any) -> Any:
    if isinstance(value, dict):
        if "__array__" in value:
            return decode_array(value["__array__"])
        if "__tuple__" in value:
            return tuple(decode_param(v) for v in value["__tuple__"])
    if isinstance(value, list):
        return [decode_param(v) for v in value]
    return value


def dump_json(data: Any, indent: int = 0) -> str:
    """Deterministic JSON: objects one key per line (keys sorted), arrays on one line."""
    pad = " " * indent
    if isinstance(data, dict) and data:
        items = [
            f'{pad} {json.dumps(key)}: {dump_json(data[key], indent + 1).lstrip()}'
            for key in sorted(data)
        ]
        return pad + "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(data, list) and any(isinstance(v, dict) for v in data):
        items = [dump_json(v, indent + 1) for v in data]
        return pad + "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return pad + json.dumps(data, allow_nan=False)


# --------------------------------------------------------------------------- cases
@dataclasses.dataclass
class Case:
    """One reference call of one loss."""

    loss: str
    name: str
    source: str
    note: str
    dtype: str
    inputs: dict[str, np.ndarray]
    params: dict[str, Any]
    wrt: list[str]
    value: np.ndarray
    grads: dict[str, np.ndarray]
    tolerance: dict[str, dict[str, float]]
    output: int | None = None  # for a loss returning a tuple: the element compared

    @property
    def id(self) -> str:
        return f"{self.loss}/{self.name}"

    @classmethod
    def from_json(cls, loss: str, data: dict) -> Case:
        return cls(
            loss=loss,
            name=data["name"],
            source=data["source"],
            note=data.get("note", ""),
            dtype=data["dtype"],
            inputs={k: decode_array(v) for k, v in data["inputs"].items()},
            params={k: decode_param(v) for k, v in data["params"].items()},
            wrt=list(data["wrt"]),
            value=decode_array(data["expected"]["value"]),
            grads={k: decode_array(v) for k, v in data["expected"]["grads"].items()},
            tolerance=data["tolerance"],
            output=data.get("output"),
        )


def data_dir() -> Any:
    """The folder of reference files shipped with the package."""
    return importlib.resources.files("multiloss") / "conformance_data"


def load_cases(losses: Iterable[str] | None = None, directory: Any = None) -> dict[str, list[Case]]:
    """Reference cases by loss name (every file in ``directory``, or only ``losses``)."""
    directory = data_dir() if directory is None else Path(directory)
    wanted = None if losses is None else set(losses)
    cases: dict[str, list[Case]] = {}
    for entry in sorted(directory.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        data = json.loads(entry.read_text(encoding="utf-8"))
        loss = data["loss"]
        if wanted is None or loss in wanted:
            cases[loss] = [Case.from_json(loss, c) for c in data["cases"]]
    return cases


# --------------------------------------------------------------------------- errors
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
            f"{actual[worst]:.9g}, expected {expected[worst]:.9g}; tolerance rtol={rtol:g}, atol={atol:g})"
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
            measure(grad, case.grads[name], tol["grad"]["rtol"], tol["grad"]["atol"], f"gradient wrt {name}")
        )
    return CaseResult(case, adapter, value_error, grad_error)


# --------------------------------------------------------------------------- report
HALF_DTYPES = ("float16", "bfloat16")


@dataclasses.dataclass
class Row:
    """The cases of one loss on one adapter: the worst value and gradient errors of the
    float32 cases, and the worst error (value or gradient) of the float16/bfloat16 ones."""

    loss: str
    adapter: str
    cases: int = 0
    failed: int = 0
    value: Error = dataclasses.field(default_factory=Error)
    grad: Error = dataclasses.field(default_factory=Error)
    half: Error = dataclasses.field(default_factory=Error)
    failures: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    @property
    def of_tolerance(self) -> float:
        """The worst error of any case as a fraction of that case's tolerance."""
        return max(self.value.of_tolerance, self.grad.of_tolerance, self.half.of_tolerance)

    def add(self, result: CaseResult) -> None:
        self.cases += 1
        if result.case.dtype in HALF_DTYPES:
            self.half = self.half.merge(result.value).merge(result.grad)
        else:
            self.value = self.value.merge(result.value)
            self.grad = self.grad.merge(result.grad)
        if not result.ok:
            self.failed += 1
            self.failures.append((result.case.name, result.message))


@dataclasses.dataclass
class Report:
    adapters: list[str]
    rows: list[Row]
    skipped: dict[str, str]  # adapter -> why
    missing: list[str]  # registered losses without reference cases
    unknown: list[str]  # reference files for losses this version does not register
    versions: dict[str, str]
    keras_backend: str | None
    #: how the Keras adapter's backend was chosen (``KERAS_BACKEND=torch``, ...)
    keras_backend_reason: str = ""
    #: adapter -> the error its import raised (an installed adapter that cannot import)
    import_errors: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def failed_rows(self) -> list[Row]:
        return [row for row in self.rows if not row.ok]

    @property
    def ok(self) -> bool:
        return (
            bool(self.adapters) and bool(self.rows) and not self.failed_rows
            and not self.missing and not self.import_errors
        )

    @property
    def case_runs(self) -> int:
        return sum(row.cases for row in self.rows)

    def to_dict(self) -> dict:
        def err(e: Error) -> dict:
            return {
                "max_abs": _finite(e.abs),
                "max_rel": _finite(e.rel),
                "of_tolerance": _finite(e.of_tolerance),
            }

        return {
            "ok": self.ok,
            "adapters": self.adapters,
            "keras_backend": self.keras_backend,
            "keras_backend_reason": self.keras_backend_reason,
            "import_errors": self.import_errors,
            "versions": self.versions,
            "skipped": self.skipped,
            "missing_cases": self.missing,
            "unregistered": self.unknown,
            "case_runs": self.case_runs,
            "results": [
                {
                    "loss": row.loss,
                    "framework": row.adapter,
                    "cases": row.cases,
                    "failed": row.failed,
                    "ok": row.ok,
                    "value": err(row.value),
                    "grad": err(row.grad),
                    "half_precision": err(row.half),
                    "of_tolerance": _finite(row.of_tolerance),
                    "failures": [{"case": c, "message": m} for c, m in row.failures],
                }
                for row in self.rows
            ],
        }


def _finite(x: float) -> float | str:
    return x if math.isfinite(x) else str(x)


def _version(module: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    names = {"tensorflow": ("tensorflow", "tensorflow-cpu")}.get(module, (module,))
    for name in names:
        try:
            return version(name)
        except PackageNotFoundError:
            continue
    return "?"


def select_adapters(wanted: Sequence[str] | None = None) -> tuple[list[str], dict[str, str]]:
    """The installed adapters among ``wanted`` (default: all four) and why others are
    skipped: ``{"tensorflow": "tensorflow is not installed (pip install ...)"}``; the
    Keras adapter is skipped when no backend it can run on is installed
    (:func:`multiloss.frameworks.keras_plan`)."""
    wanted = list(wanted or frameworks.ADAPTERS)
    unknown = [a for a in wanted if a not in frameworks.ADAPTERS]
    if unknown:
        raise ValueError(f"unknown framework(s) {unknown}; choose from {list(frameworks.ADAPTERS)}")
    adapters, skipped = [], {}
    for adapter in wanted:
        if frameworks.is_installed(adapter):
            adapters.append(adapter)
        else:
            skipped[adapter] = frameworks.not_installed_reason(adapter)
    return adapters, skipped


def _import_error(adapter: str, exc: BaseException) -> str:
    message = f"import multiloss.{adapter} raised {type(exc).__name__}: {exc}"
    name = getattr(exc, "name", None)
    if isinstance(exc, ModuleNotFoundError) and name and name.split(".")[0] in frameworks.INSTALL:
        message += f" ({frameworks.INSTALL[name.split('.')[0]]})"
    return message


Progress = Callable[[int, int, str], None]


def run(
    losses: Iterable[str] | None = None,
    adapters: Sequence[str] | None = None,
    *,
    directory: Any = None,
    progress: Progress | None = None,
) -> Report:
    """Run the reference cases of ``losses`` (default: all) on ``adapters`` (default: all
    installed) and return the :class:`Report`. ``progress(done, total, label)`` is called
    after every case run."""
    import multiloss
    from multiloss.core.registry import registry

    chosen, skipped = select_adapters(adapters)
    registered = set(registry())
    wanted = None if losses is None else list(losses)
    if wanted is not None:
        unknown_names = sorted(set(wanted) - registered)
        if unknown_names:
            raise ValueError(f"unknown loss(es) {unknown_names}; registered: {sorted(registered)}")
    cases = load_cases(wanted, directory)
    unknown = sorted(set(cases) - registered)
    missing = sorted((set(wanted) if wanted is not None else registered) - set(cases))
    imported: list[str] = []
    rows: list[Row] = []
    import_errors: dict[str, str] = {}
    versions = {"multiloss": multiloss.__version__}
    reason = frameworks.keras_plan(chosen).reason if "keras" in chosen else ""
    for adapter in chosen:
        try:
            if adapter == "keras":  # on the planned backend, before another adapter picks one
                frameworks.import_keras_for(chosen)
            frameworks.import_adapters([adapter])
            imported.append(adapter)
        except Exception as exc:  # an installed adapter that cannot import fails the check
            import_errors[adapter] = _import_error(adapter, exc)
        versions[adapter] = _version(adapter)
    backend = frameworks.keras_backend() if "keras" in imported else None
    work = [(loss, c) for loss in sorted(set(cases) - set(unknown)) for c in cases[loss]]
    total = len(work) * len(imported)
    done = 0
    by_key: dict[tuple[str, str], Row] = {}
    for loss, case in work:
        for adapter in imported:
            if (loss, adapter) not in by_key:
                by_key[loss, adapter] = Row(loss, adapter)
                rows.append(by_key[loss, adapter])
            by_key[loss, adapter].add(run_case(case, adapter))
            done += 1
            if progress is not None:
                progress(done, total, f"{loss} · {adapter}")
    order = {a: i for i, a in enumerate(frameworks.ADAPTERS)}
    rows.sort(key=lambda r: (r.loss, order[r.adapter]))
    return Report(chosen, rows, skipped, missing, unknown, versions, backend, reason, import_errors)

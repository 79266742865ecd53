"""The ``multiloss check`` report: one :class:`Row` per loss and framework, the
:class:`Report` of a whole run, and its text (:func:`render_report`) and JSON
(:meth:`Report.to_dict`) forms.
"""

from __future__ import annotations

import dataclasses
import math

from multiloss.verify.console import format_table, percent, plural, short_float
from multiloss.verify.runner import CaseResult, Error

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

    def label(self, adapter: str) -> str:
        """``keras (torch)`` for the Keras adapter that ran, the adapter name otherwise."""
        if adapter == "keras" and self.keras_backend:
            return f"keras ({self.keras_backend})"
        return adapter

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


TABLE_HEADER = ["loss / framework", "cases", "value abs", "value rel", "grad abs", "grad rel",
                "half rel", "of tol", "result"]


def _table(report: Report) -> list[str]:
    """Each loss heads its own line, with one indented row per framework under it: the
    table fits a 100-column terminal whatever the loss names."""
    rows = [TABLE_HEADER]
    for row in report.rows:
        rows.append([
            "  " + report.label(row.adapter), str(row.cases),
            short_float(row.value.abs), short_float(row.value.rel),
            short_float(row.grad.abs), short_float(row.grad.rel), short_float(row.half.rel),
            percent(row.of_tolerance), "pass" if row.ok else f"FAIL {row.failed}/{row.cases}",
        ])
    table = format_table(rows).splitlines()
    lines, loss = table[:2], None
    for row, text in zip(report.rows, table[2:], strict=True):
        if row.loss != loss:
            loss = row.loss
            lines.append(loss)
        lines.append(text)
    return lines


def _verdict(report: Report) -> str:
    losses = sorted({row.loss for row in report.rows})
    if report.ok:
        return (
            f"PASS: {plural(len(losses), 'loss', 'losses')} x "
            f"{plural(len(report.adapters), 'framework')}, {report.case_runs} case runs, "
            "every value and gradient within tolerance"
        )
    bad = sorted({row.loss for row in report.failed_rows} | set(report.missing))
    reasons = []
    if bad:
        every = len(set(losses) | set(report.missing))
        reasons.append(f"{len(bad)} of {every} losses failed: {', '.join(bad)}")
    if report.import_errors:
        reasons.append(f"{', '.join(report.import_errors)} could not be imported (see above)")
    if not report.adapters:
        reasons = ["no framework installed (pip install 'multiloss[all]')"]
    return "FAIL: " + ("; ".join(reasons) or "no reference case ran")


def render_report(report: Report) -> str:
    """The ``multiloss check`` text: header, the loss x framework table (it fits a
    100-column terminal whatever the loss names), the failures and the verdict (the last
    line). Messages (a skip reason, a failure's worst entry) stay on one line each."""
    v = report.versions
    lines = [f"multiloss {v['multiloss']} conformance check: values and gradients vs peer "
             "libraries or float64 formulas"]
    names = [f"{report.label(a)} {v.get(a, '?')}" for a in report.adapters
             if a not in report.import_errors]
    lines.append("frameworks: " + (", ".join(names) or "none"))
    if report.keras_backend and report.keras_backend_reason:
        lines.append(f"keras runs on {report.keras_backend}: {report.keras_backend_reason}")
    lines += [f"skipped {adapter}: {why}" for adapter, why in report.skipped.items()]
    lines += [f"FAIL {adapter}: {why}" for adapter, why in report.import_errors.items()]
    lines.append("")
    if report.rows:
        lines += _table(report)
    failures = [(row, case, msg) for row in report.rows for case, msg in row.failures]
    if failures:
        lines += ["", "failures:"]
        lines += [f"  {row.loss}/{case} on {row.adapter}: {msg}" for row, case, msg in failures]
    if report.missing:
        lines += ["", "registered losses without reference cases: " + ", ".join(report.missing)]
    if report.unknown:
        lines += ["", "reference cases for losses this version does not have (ignored): "
                  + ", ".join(report.unknown)]
    return "\n".join([*lines, "", _verdict(report)])

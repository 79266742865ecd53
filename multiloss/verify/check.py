"""``multiloss check``: every reference case on every installed adapter.

:func:`run` executes the shipped reference cases in one process on the Keras (on its
configured backend), torch, jax and tensorflow adapters and returns a
:class:`~multiloss.verify.report.Report`; :func:`check_command` prints it (text or
JSON) for the command line, the test suite asserts on it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from multiloss.verify import frameworks, reference
from multiloss.verify.console import Progress, UsageError
from multiloss.verify.logs import quiet_native_logs
from multiloss.verify.report import Report, Row, render_report
from multiloss.verify.runner import run_case

#: ``progress(done, total, label)``, called after every case run.
ProgressCallback = Callable[[int, int, str], None]


def _version(module: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    names = {"tensorflow": ("tensorflow", "tensorflow-cpu")}.get(module, (module,))
    for name in names:
        try:
            return version(name)
        except PackageNotFoundError:
            continue
    return "?"


def _import(adapters: list[str]) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """Import each adapter (Keras on its planned backend, before another adapter picks
    one): those imported, the errors of the others, and every adapter's version."""
    imported, errors, versions = [], {}, {}
    for adapter in adapters:
        try:
            if adapter == "keras":
                frameworks.import_keras_for(adapters)
            frameworks.import_adapters([adapter])
            imported.append(adapter)
        except Exception as exc:  # an installed adapter that cannot import fails the check
            errors[adapter] = frameworks.import_error_message(adapter, exc)
        versions[adapter] = _version(adapter)
    return imported, errors, versions


def run(
    losses: Iterable[str] | None = None,
    adapters: Sequence[str] | None = None,
    *,
    directory: Any = None,
    progress: ProgressCallback | None = None,
) -> Report:
    """Run the reference cases of ``losses`` (default: all) on ``adapters`` (default: all
    installed) and return the :class:`~multiloss.verify.report.Report`. An unknown loss
    or framework name raises ``ValueError``; ``directory`` replaces the shipped cases."""
    import multiloss
    from multiloss.core.registry import registry

    chosen, skipped = frameworks.select_adapters(adapters)
    registered = set(registry())
    wanted = None if losses is None else list(losses)
    if wanted is not None:
        unknown_names = sorted(set(wanted) - registered)
        if unknown_names:
            raise ValueError(f"unknown loss(es) {unknown_names}; registered: {sorted(registered)}")
    cases = reference.load_cases(wanted, directory)
    unknown = sorted(set(cases) - registered)
    missing = sorted((set(wanted) if wanted is not None else registered) - set(cases))
    reason = frameworks.keras_plan(chosen).reason if "keras" in chosen else ""
    imported, import_errors, versions = _import(chosen)
    backend = frameworks.keras_backend() if "keras" in imported else None
    work = [(loss, c) for loss in sorted(set(cases) - set(unknown)) for c in cases[loss]]
    total, done = len(work) * len(imported), 0
    rows: dict[tuple[str, str], Row] = {}
    for loss, case in work:
        for adapter in imported:
            row = rows.setdefault((loss, adapter), Row(loss, adapter))
            row.add(run_case(case, adapter))
            done += 1
            if progress is not None:
                progress(done, total, f"{loss} · {adapter}")
    order = {a: i for i, a in enumerate(frameworks.ADAPTERS)}
    ordered = sorted(rows.values(), key=lambda r: (r.loss, order[r.adapter]))
    versions = {"multiloss": multiloss.__version__, **versions}
    return Report(
        chosen, ordered, skipped, missing, unknown, versions, backend, reason, import_errors
    )


def check_command(
    losses: Sequence[str] | None,
    adapters: Sequence[str] | None,
    *,
    as_json: bool = False,
    progress: bool = True,
) -> bool:
    """Run the check with a progress bar (on a terminal, when ``progress``) and TensorFlow's
    C++ log lines dropped from stderr; print the report. True when everything passes;
    an unknown loss or framework raises :class:`~multiloss.verify.console.UsageError`."""
    bar = Progress(progress)  # asks whether stderr is a terminal: before fd 2 is redirected
    try:
        with quiet_native_logs(), bar:
            report = run(losses, adapters, progress=bar)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    print(json.dumps(report.to_dict(), indent=1) if as_json else render_report(report))
    return report.ok

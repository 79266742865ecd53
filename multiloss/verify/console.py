"""What the commands share on the terminal: tables that fit its width, short numbers,
the progress bar, and :class:`UsageError`.

A bottom-layer module of :mod:`multiloss.verify` (it imports no other verify module).
"""

from __future__ import annotations

import math
import sys
import textwrap
from typing import Any

#: The terminal width every line of ``multiloss check`` and ``multiloss compare`` fits.
WIDTH = 100


class UsageError(ValueError):
    """A request a command cannot serve (an unknown loss, framework or parameter, an
    unreadable file): ``multiloss`` prints it as one line and exits with status 2."""


def plural(n: int, one: str, many: str | None = None) -> str:
    """``1 loss``, ``2 losses``."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


def short_float(x: float) -> str:
    """``0``, ``3.8e-05``, ``inf``: two significant digits, always the same width."""
    if not math.isfinite(x):
        return str(x)
    return "0" if x == 0 else f"{x:.1e}"


def percent(x: float) -> str:
    """``18%``; from 1000% on in powers of ten (``5e+05%``), so the column stays narrow."""
    if not math.isfinite(x):
        return str(x)
    return f"{x:.0%}" if x < 9.995 else f"{100 * x:.0e}%"


def wrap(text: str, width: int = WIDTH, indent: str = "  ") -> list[str]:
    """``text`` as lines of at most ``width`` columns, every line after the first indented
    (each of its own lines wrapped on its own; a word longer than a line is split)."""
    lines: list[str] = []
    for line in text.splitlines() or [""]:
        wrapped = textwrap.wrap(
            line, width, initial_indent=indent if lines else "", subsequent_indent=indent,
            break_on_hyphens=False,
        )
        lines += wrapped or [""]
    return lines


def _columns(rows: list[list[str]], columns: list[int]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in columns]
    lines = [
        "  ".join(r[i].ljust(w) for i, w in zip(columns, widths, strict=True)).rstrip()
        for r in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def format_table(rows: list[list[str]], width: int | None = None) -> str:
    """Left-aligned columns, a rule under the header row (the first row).

    With ``width``, a table wider than that is cut into blocks of columns, one under
    the other (separated by an empty line), each repeating the first column.
    """
    count = len(rows[0])
    widths = [max(len(r[i]) for r in rows) for i in range(count)]
    if width is None or sum(widths) + 2 * (count - 1) <= width:
        return "\n".join(_columns(rows, list(range(count))))
    blocks, block = [], [0]
    used = widths[0]
    for i in range(1, count):
        if len(block) > 1 and used + 2 + widths[i] > width:
            blocks.append(block)
            block, used = [0], widths[0]
        block.append(i)
        used += 2 + widths[i]
    blocks.append(block)
    return "\n\n".join("\n".join(_columns(rows, b)) for b in blocks)


class Progress:
    """A progress bar on stderr (rich when available, else plain text), shown only when
    ``enabled`` and stderr is a terminal; ``progress(done, total, label)`` moves it."""

    def __init__(self, enabled: bool):
        self.bar: Any = None
        self.task: Any = None
        self.enabled = enabled and sys.stderr.isatty()
        if not self.enabled:
            return
        try:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
            from rich.progress import Progress as RichProgress

            self.bar = RichProgress(
                TextColumn("checking"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.description}"), transient=True,
                # a terminal, even once quiet_native_logs() has pointed fd 2 at a pipe
                console=Console(stderr=True, force_terminal=True),
            )
        except ImportError:
            self.bar = None

    def __enter__(self) -> Progress:
        if self.bar is not None:
            self.bar.start()
        return self

    def __call__(self, done: int, total: int, label: str) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            if self.task is None:
                self.task = self.bar.add_task(label, total=total)
            self.bar.update(self.task, completed=done, description=label)
        else:
            size = 30
            filled = int(size * done / max(total, 1))
            bar = "#" * filled + "." * (size - filled)
            sys.stderr.write(f"\rchecking [{bar}] {done}/{total} {label:<40}")
            sys.stderr.flush()

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.stop()
        elif self.enabled:
            sys.stderr.write("\r" + " " * WIDTH + "\r")

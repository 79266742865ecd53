"""Quiet TensorFlow / absl's C++ log lines while a command runs.

A bottom-layer module of :mod:`multiloss.verify` (it imports no other verify module):
:func:`quiet_native_logs` drops lines such as ``I0000 00:00:... port.cc:153] oneDNN
custom operations are on ...`` from file descriptor 2 and forwards everything else.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from collections.abc import Iterator

#: A line of absl / TensorFlow's C++ logging,
#: ``I0000 00:00:1795695141.641100   26171 port.cc:153] ...`` (severity, MMDD, time: before
#: absl is initialised the "seconds" are a Unix time, thread, file:line).
_NATIVE_LOG = re.compile(r"[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\] ")
#: Any start of such a line (it may still become one): held back until the line is complete.
_NATIVE_LOG_START = re.compile(r"[IWEF](\d{0,3}|\d{4}( [\d:.]*( +\d*( \S*)?)?)?)")
_ABSL_PREAMBLE = (
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
)


def _is_native_log(line: bytes) -> bool:
    text = line.decode("utf-8", "replace")
    return bool(_NATIVE_LOG.match(text)) or line.rstrip(b"\r\n") == _ABSL_PREAMBLE


def _may_become_native_log(partial: bytes) -> bool:
    text = partial.decode("utf-8", "replace")
    return (
        bool(_NATIVE_LOG_START.fullmatch(text) or _NATIVE_LOG.match(text))
        or _ABSL_PREAMBLE.startswith(partial)
    )


@contextlib.contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Drop TensorFlow / absl C++ log lines from stderr for the duration of the block.

    TensorFlow's C++ side writes lines such as ``I0000 00:00:... port.cc:153] oneDNN custom
    operations are on ...`` (and absl's ``WARNING: All log messages before
    absl::InitializeLog() ...``) to file descriptor 2 directly, whatever
    ``TF_CPP_MIN_LOG_LEVEL`` says. Here fd 2 is pointed at a pipe; a thread forwards what
    arrives to the real stderr unchanged, except lines of that format. A partial line is
    forwarded at once (a progress bar stays live) unless it may still become a log line;
    such a start is held until its line is complete. fd 2 is restored on exit, exceptions
    included.
    """
    try:
        sys.stderr.flush()
        real = os.dup(2)
    except (OSError, ValueError):  # no usable stderr: nothing to filter
        yield
        return
    read_end, write_end = os.pipe()

    def write(data: bytes) -> None:
        while data:
            try:
                data = data[os.write(real, data):]
            except OSError:
                return

    def pump() -> None:
        pending = b""  # the start of a line that may become a log line
        mode = "start"  # "start" of a line, "forward" or "drop" the rest of the current one
        while True:
            try:
                chunk = os.read(read_end, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            out = []
            *lines, rest = chunk.split(b"\n")
            for piece in [line + b"\n" for line in lines] + ([rest] if rest else []):
                complete = piece.endswith(b"\n")
                if mode == "forward":
                    out.append(piece)
                elif mode == "drop":
                    pass
                else:
                    line = pending + piece
                    pending = b""
                    if complete:
                        if not _is_native_log(line):
                            out.append(line)
                    elif _is_native_log(line):
                        mode = "drop"
                    elif _may_become_native_log(line):
                        pending = line
                    else:
                        out.append(line)
                        mode = "forward"
                if complete:
                    mode = "start"
            if out:
                write(b"".join(out))
        if pending:
            write(pending)

    thread = threading.Thread(target=pump, name="multiloss-stderr", daemon=True)
    try:
        os.dup2(write_end, 2)
    finally:
        os.close(write_end)
    thread.start()
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(real, 2)  # closes the pipe's last write end: the thread reads to the end
        thread.join(timeout=5)
        if not thread.is_alive():  # else a child process holds the pipe: leave both open to it
            os.close(real)
            os.close(read_end)

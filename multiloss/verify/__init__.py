"""The verification tooling: ``multiloss check``, ``multiloss compare`` /
:func:`multiloss.compare`, and the reference data they run against.

One role per module; a module imports only from the layers below its own::

    cli                 argparse: parse the arguments, dispatch, exit status
     |
    check   compare     the two commands: ``multiloss check`` runs the suite into a
     |         |        report; ``multiloss compare`` (and ``multiloss.compare``)
    report     |        runs one loss on the user's data in every framework
     |         |        (report: the check's rows, verdict, text and JSON)
    runner ----+        one reference case on one adapter, measured against its reference
     |
    reference           the shipped cases (``multiloss/verify/data/<loss>.json``)
     |
    frameworks  encoding  console  logs
                        framework handles (which adapters run here, tensors, value
                        and gradient); the JSON form of the reference files; tables,
                        numbers, progress bar and UsageError; TensorFlow's C++ log lines

The reference files are written by ``python -m conformance.generate`` (the top-level
``conformance/`` folder, not shipped) from peer libraries, never from multiloss.
Importing this package, or any module of it, loads no framework.
"""

from __future__ import annotations

#: The modules by layer, lowest first: a module imports verify modules of lower layers
#: only (``tests/test_structure.py`` holds every module to it).
LAYERS = (
    ("frameworks", "encoding", "console", "logs"),
    ("reference",),
    ("runner",),
    ("report",),
    ("check", "compare"),
    ("cli",),
)

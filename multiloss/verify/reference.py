"""The reference cases shipped with the package, as :class:`Case` objects.

Reference cases live in ``multiloss/verify/data/<loss>.json``. Each case holds the
inputs of one call, its parameters, the input dtype, the expected value and the
expected gradients of the summed output (computed by ``python -m conformance.generate``
from peer libraries or float64 formulas, never from multiloss) and the tolerances.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from multiloss.verify.encoding import decode_array, decode_param


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
    return importlib.resources.files("multiloss.verify") / "data"


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

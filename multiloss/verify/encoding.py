"""The JSON form of the reference files: arrays, loss parameters, deterministic text.

A bottom-layer module of :mod:`multiloss.verify` (it imports no other verify module).
:mod:`multiloss.verify.reference` reads the shipped files with it; the generator
(``python -m conformance.generate``) writes them with it.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

#: Digits kept for expected values: far below every tolerance, and stable when the
#: references are recomputed on another machine.
EXPECTED_DIGITS = 10
_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


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
    """The array :func:`encode_array` wrote."""
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
    """The parameter :func:`encode_param` wrote."""
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

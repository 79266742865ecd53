"""Shared fixtures: the suite is parametrized over the four adapters.

The Keras adapter runs on whatever ``KERAS_BACKEND`` the session sets (nox runs the
suite once per backend); the torch, jax and tensorflow adapters run in every session.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402,F401  (torch before tensorflow, always)

from multiloss.verify import frameworks  # noqa: E402

ADAPTERS = frameworks.ADAPTERS
frameworks.import_adapters(ADAPTERS)


class Adapter:
    """One adapter, driven from NumPy: call a loss, get values and gradients back."""

    def __init__(self, name: str):
        self.name = name
        self.framework = frameworks.keras_backend() if name == "keras" else name
        self.module = __import__(f"multiloss.{name}", fromlist=["_"])

    def __repr__(self) -> str:
        return f"Adapter({self.name})"

    def fn(self, loss: str):
        """The loss taking its tensors prediction-first, whatever the adapter's order."""
        return frameworks.adapter_function(self.name, loss)

    def tensor(self, array, dtype=None):
        t = frameworks.to_tensor(self.name, np.asarray(array))
        return t if dtype is None else frameworks.cast(self.framework, t, dtype)

    def call(self, loss: str, *arrays, **params) -> np.ndarray:
        """Value of ``loss`` (float64 NumPy) for NumPy inputs given prediction-first."""
        out = self.fn(loss)(*(self.tensor(a) for a in arrays), **params)
        return frameworks.to_numpy(out).astype(np.float64)

    def value_and_grad(self, loss: str, *arrays, wrt=(0,), dtype=None, **params):
        fn = self.fn(loss)
        return frameworks.value_and_grad(
            self.name, lambda *t: fn(*t, **params), arrays, wrt, dtype=dtype
        )


@pytest.fixture(params=ADAPTERS)
def adapter(request) -> Adapter:
    return Adapter(request.param)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)

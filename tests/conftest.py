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


# ------------------------------------------------------------------ shards (nox, CI)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--shard", default=None, metavar="K/N",
        help="run only the K-th of N interleaved parts of the selected tests (1 <= K <= N): "
        "nox runs the cross-framework tests as parts, side by side with the other sessions",
    )


@pytest.hookimpl(trylast=True)  # after -m, -k and --deselect: parts of the selected tests
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    shard = config.getoption("--shard")
    if shard is None:
        return
    try:
        k, n = (int(part) for part in shard.split("/"))
    except ValueError:
        raise pytest.UsageError(f"--shard takes K/N, e.g. 1/3; got {shard!r}") from None
    if not 1 <= k <= n:
        raise pytest.UsageError(f"--shard {shard}: K must be in 1..N")
    # every n-th test: each part gets a slice of every file (the expensive parametrizations
    # are spread evenly rather than landing in one part)
    kept = items[k - 1 :: n]
    config.hook.pytest_deselected(items=[item for i, item in enumerate(items) if i % n != k - 1])
    items[:] = kept

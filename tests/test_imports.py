"""Import hygiene: ``import multiloss`` loads no framework; the torch and jax adapters
import (and compute) under every ``KERAS_BACKEND``; an untested Keras is refused with
an error naming the supported range."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from multiloss.core.ops import (
    SUPPORTED_KERAS,
    UnsupportedKerasError,
    check_keras_version,
    get_ops,
)

FRAMEWORK_MODULES = ("torch", "jax", "tensorflow", "keras")


def run_python(code: str, backend: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("MULTILOSS_ALLOW_UNTESTED_KERAS", None)
    if backend is not None:
        env["KERAS_BACKEND"] = backend
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=root, timeout=300
    )


@pytest.mark.cross_framework
def test_import_multiloss_loads_no_framework():
    result = run_python(
        "import sys\n"
        "import multiloss, multiloss.core, multiloss.verify.frameworks\n"
        "assert multiloss.available_losses(), 'no loss registered'\n"
        f"print(sorted(m for m in {FRAMEWORK_MODULES!r} if m in sys.modules))\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"import multiloss loaded {result.stdout.strip()}"


@pytest.mark.cross_framework
@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_torch_and_jax_adapters_import_under_each_backend(backend):
    # jax first: under KERAS_BACKEND=tensorflow that imports TensorFlow before torch.
    code = f"""
import numpy as np
import keras
import multiloss.jax, multiloss.torch
from multiloss.verify import frameworks
assert keras.config.backend() == {backend!r}, keras.config.backend()
x = np.array([[2.0, 0.5, 1.0], [0.1, 1.0, 3.0]], np.float32)
for name, module in (("jax", multiloss.jax), ("torch", multiloss.torch)):
    out = module.cross_entropy(frameworks.to_tensor(name, x), frameworks.to_tensor(name, np.array([1, 2])), reduction="none")
    np.testing.assert_allclose(frameworks.to_numpy(out), [1.9643688, 0.17425454], atol=1e-6)
print("ok")
"""
    result = run_python(code, backend)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]


@pytest.mark.cross_framework
def test_untested_keras_refused_at_adapter_import():
    result = run_python(
        "import keras\n"
        "keras.__version__ = '3.99.0'\n"
        "from multiloss.core.ops import UnsupportedKerasError\n"
        "try:\n"
        "    import multiloss.jax\n"
        "except UnsupportedKerasError as exc:\n"
        "    print(exc)\n",
        "jax",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "3.99.0" in result.stdout and ">=3.15" in result.stdout and "<3.16" in result.stdout


@pytest.mark.parametrize("version", ["3.15.0", "3.15.1", "3.15.2rc1", "3.15.1.dev2026"])
def test_supported_keras_versions_pass(version):
    check_keras_version(version)


@pytest.mark.parametrize("version", ["3.14.9", "3.16.0", "4.0.0", "2.15.0", "3.16.0rc0"])
def test_unsupported_keras_version_names_the_range(monkeypatch, version):
    monkeypatch.delenv("MULTILOSS_ALLOW_UNTESTED_KERAS", raising=False)
    with pytest.raises(UnsupportedKerasError) as info:
        check_keras_version(version)
    message = str(info.value)
    assert version in message
    assert all(bound in message for bound in SUPPORTED_KERAS)
    assert "MULTILOSS_ALLOW_UNTESTED_KERAS" in message
    assert isinstance(info.value, ImportError)


def test_untested_keras_allowed_on_request(monkeypatch):
    monkeypatch.setenv("MULTILOSS_ALLOW_UNTESTED_KERAS", "1")
    check_keras_version("3.16.0")


def test_unknown_framework_is_refused():
    with pytest.raises(ValueError, match="pytorch"):
        get_ops("pytorch")


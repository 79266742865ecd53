"""Test matrix: the suite once per KERAS_BACKEND, plus the cross-framework tests.

Sessions run in the environment nox itself was installed into (the README's venv:
`pip install -c constraints.txt -e ".[all,test]"`), so the three frameworks are
installed once rather than once per session.

    nox                                  # every session
    nox -s "tests(backend='torch')"      # one backend
    nox -s cross_framework
"""

import os
import sys

import nox

nox.options.default_venv_backend = "none"
nox.options.error_on_missing_interpreters = False

BACKENDS = ["tensorflow", "jax", "torch"]


def _pytest(session: nox.Session, backend: str, *args: str) -> None:
    env = {"KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    session.run(sys.executable, "-m", "pytest", *args, *session.posargs, env=env)


@nox.session
@nox.parametrize("backend", BACKENDS)
def tests(session: nox.Session, backend: str) -> None:
    """The suite under one Keras backend (the cross-framework tests run once, below)."""
    _pytest(session, backend, "-m", "not cross_framework", "-p", "no:cacheprovider")


@nox.session
def cross_framework(session: nox.Session) -> None:
    """torch, jax and tensorflow side by side in one process, and the doctests."""
    # jax by default: the tensorflow and torch adapters must not depend on Keras'
    # global backend (its dtype rules follow it), so test them under another one.
    backend = os.environ.get("KERAS_BACKEND", "jax")
    _pytest(session, backend, "-m", "cross_framework", "-p", "no:cacheprovider")
    session.run(
        sys.executable, "-m", "pytest", "--doctest-modules", "multiloss/core",
        "-p", "no:cacheprovider", env={"KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )

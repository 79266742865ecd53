"""Test matrix: the suite once per KERAS_BACKEND, plus the cross-framework tests.

Sessions run in the environment nox itself was installed into (the README's venv:
`pip install -c constraints.txt -e ".[all,test]"`), so the three frameworks are
installed once rather than once per session.

    nox                                  # every session, in two streams side by side
    nox -s "tests(backend='torch')"      # one backend
    nox -s cross_framework
    nox -s single_framework              # fresh venvs with only torch / only jax

`single_framework` is the exception: it installs the package alone, as a new user
would (`pip install "multiloss[torch]"`), into a venv of its own under .nox/.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nox

nox.options.default_venv_backend = "none"
nox.options.error_on_missing_interpreters = False
nox.options.sessions = ["all"]

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


ROOT = Path(__file__).resolve().parent
SINGLE_FRAMEWORKS = ["torch", "jax"]
EXPECTED_CROSS_ENTROPY = [1.9643688, 0.17425454]


@nox.session
@nox.parametrize("framework", SINGLE_FRAMEWORKS)
def single_framework(session: nox.Session, framework: str) -> None:
    """A fresh venv with only torch (or jax), as a new user installs it: no TensorFlow, nothing printed, check passes.

    `pip install ".[torch]"` from a copy of the package, then, with KERAS_BACKEND unset:
    `import multiloss.torch` computes the README's cross-entropy row without importing
    TensorFlow or printing anything, and `multiloss check` passes with Keras on torch,
    naming the frameworks it skipped and why.
    """
    venv = ROOT / ".nox" / f"single_framework-{framework}"
    shutil.rmtree(venv, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix=f"multiloss-{framework}-") as tmp:
        work = Path(tmp)
        # build from a copy: an in-tree build would leave build/ in the checkout
        source = work / "source"
        source.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(ROOT / name, source / name)
        shutil.copytree(ROOT / "multiloss", source / "multiloss",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        session.run(sys.executable, "-m", "venv", str(venv), external=True)
        python = str(venv / "bin" / "python")
        session.run(
            python, "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt"),
            f"{source}[{framework}]", external=True,
        )
        others = [f for f in ("torch", "jax", "tensorflow") if f != framework]
        installed = subprocess.run(
            [python, "-c", f"import importlib.util as u; print([m for m in {others!r} if u.find_spec(m)])"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        if installed != "[]":
            session.error(f"[{framework}] also installed {installed}: not a single-framework venv")

        # a new user's environment: no KERAS_BACKEND, no ~/.keras/keras.json, no log settings
        env = {k: v for k, v in os.environ.items()
               if k not in ("KERAS_BACKEND", "PYTHONPATH", "TF_CPP_MIN_LOG_LEVEL")}
        env["KERAS_HOME"] = str(work / "keras_home")

        def run(*args: str) -> subprocess.CompletedProcess:
            session.log(" ".join(args))
            return subprocess.run(list(args), capture_output=True, text=True, env=env, cwd=work, timeout=600)

        probe = run(python, str(ROOT / "tests" / "single_framework_probe.py"), framework)
        if probe.returncode != 0 or probe.stderr or len(probe.stdout.splitlines()) != 1:
            session.error(f"import multiloss.{framework} printed or failed (exit {probe.returncode}):\n"
                          f"stdout:\n{probe.stdout}\nstderr:\n{probe.stderr}")
        result = json.loads(probe.stdout)
        session.log(f"probe: {result}")
        if not str(result["multiloss"]).startswith(str(venv)):
            session.error(f"multiloss imported from {result['multiloss']}, not from the venv")
        if "tensorflow" in result["modules"] or result["keras_backend"] != framework:
            session.error(f"expected Keras on {framework} and no TensorFlow: {result}")
        if any(abs(v - e) > 1e-5 for v, e in zip(result["values"], EXPECTED_CROSS_ENTROPY, strict=True)):
            session.error(f"cross_entropy gave {result['values']}, expected {EXPECTED_CROSS_ENTROPY}")

        check = run(str(venv / "bin" / "multiloss"), "check", "--no-progress")
        print(check.stdout + check.stderr)
        lines = check.stdout.splitlines()
        wanted = [f"skipped {other}: {other} is not installed (pip install" for other in others]
        frameworks_line = next((line for line in lines if line.startswith("frameworks:")), "")
        problems = [w for w in wanted if not any(line.startswith(w) for line in lines)]
        if f"keras ({framework})" not in frameworks_line:
            problems.append(f"keras ({framework}) not in {frameworks_line!r}")
        if check.returncode != 0 or "FAIL" in check.stdout or not lines or not lines[-1].startswith("PASS"):
            problems.append(f"exit {check.returncode}, not a clean PASS")
        if problems:
            session.error(f"multiloss check with only {framework}: {problems}")


@nox.session
def docs(session: nox.Session) -> None:
    """The docs site: generated pages and figures current, `mkdocs build --strict`, offline.

    Fails when docs/losses/ or docs/figures/ differ from what the code gives (rerun
    ``python docs/build_pages.py`` / ``python docs/figures.py``), on any MkDocs warning
    (a broken link, a formula that does not convert to MathML, a page missing from the
    nav), or when a built page loads a script, style sheet or font from the network.
    The site goes to a temporary directory; ``mkdocs build`` writes site/ (ignored).
    """
    env = {"TF_CPP_MIN_LOG_LEVEL": "2", "NO_MKDOCS_2_WARNING": "1"}
    session.run(sys.executable, "docs/build_pages.py", "--check", env=env)
    session.run(sys.executable, "docs/figures.py", "--check", env=env)
    with tempfile.TemporaryDirectory(prefix="multiloss-site-") as site:
        session.run(sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", site, env=env)
        session.run(sys.executable, "docs/check_site.py", site, env=env)


#: The sessions ``nox`` runs by default, in two streams side by side: CI has two cores
#: and the tests are mostly single-threaded Python (small tensors), so two processes
#: take about half the wall time of one. The streams take about the same time.
STREAMS = (
    ("cross_framework", "docs"),
    tuple(f"tests(backend='{b}')" for b in BACKENDS)
    + tuple(f"single_framework(framework='{f}')" for f in SINGLE_FRAMEWORKS),
)


@nox.session(name="all")
def all_sessions(session: nox.Session) -> None:
    """Every session above, as two concurrent ``nox`` processes (:data:`STREAMS`).

    Each stream's output goes to ``.nox/stream-<n>.log`` and is printed when it ends;
    the session fails if either stream fails. ``nox -- <pytest args>`` passes the
    arguments on to the test sessions.
    """
    logs = ROOT / ".nox"
    logs.mkdir(exist_ok=True)
    running = []
    for number, stream in enumerate(STREAMS):
        log = logs / f"stream-{number}.log"
        command = [sys.executable, "-m", "nox", "--no-color", "-s", *stream]
        if session.posargs:
            command += ["--", *session.posargs]
        session.log(f"stream {number}: {' '.join(stream)} > {log}")
        with open(log, "w") as out:
            running.append((number, log, subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)))
    failed = []
    for number, log, process in running:
        code = process.wait()
        print(f"===== stream {number} (exit {code}) =====\n{log.read_text()}", flush=True)
        if code:
            failed.append(number)
    if failed:
        session.error(f"stream(s) {failed} failed: see their output above")

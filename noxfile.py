"""Test matrix: the suite once per KERAS_BACKEND, plus the cross-framework tests.

Sessions run in the environment nox itself was installed into (the README's venv:
`pip install -c constraints.txt -e ".[all,test]"`), so the three frameworks are
installed once rather than once per session.

    nox                                  # every session, two at a time (SCHEDULE)
    nox -s "tests(backend='torch')"      # one backend
    nox -s cross_framework               # its three parts, one after another
    nox -s single_framework              # fresh venvs with only torch / only jax

`single_framework` is the exception: it installs the package alone, as a new user
would (`pip install "multiloss[torch]"`), into a venv of its own under .nox/.
"""

import json
import os
import re
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


#: JAX compiles every operation it runs eagerly, once per shape: most of the time the
#: jax and Keras-on-jax tests take. JAX's persistent cache on disk shares those
#: compilations between the processes of a session (README blocks, examples, `multiloss
#: check`) and between the sessions one ``all`` worker runs in turn; each worker has a
#: cache of its own (``MULTILOSS_JAX_CACHE``), as JAX writes its entries unlocked when the
#: cache has no size limit, and a size limit makes each write scan the whole cache.
def _jax_cache() -> dict[str, str]:
    directory = os.environ.get("MULTILOSS_JAX_CACHE", str(ROOT / ".nox" / "jax-cache"))
    return {
        "JAX_COMPILATION_CACHE_DIR": directory,
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "-1",
    }


def _env(backend: str) -> dict[str, str]:
    return {"KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2", **_jax_cache()}


def _pytest(session: nox.Session, backend: str, *args: str, success_codes=(0,)) -> None:
    session.run(
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--durations=15",
        *args, *session.posargs, env=_env(backend), success_codes=list(success_codes),
    )


@nox.session
@nox.parametrize("backend", BACKENDS)
def tests(session: nox.Session, backend: str) -> None:
    """The suite under one Keras backend (the cross-framework tests run once, below)."""
    _pytest(session, backend, "-m", "not cross_framework")


#: The cross-framework tests are the longest part of the suite: nox runs them as
#: interleaved parts (``pytest --shard K/N``, tests/conftest.py) that ``all`` schedules
#: beside the other sessions. ``nox -s cross_framework`` runs every part, one after another.
CROSS_PARTS = 3


@nox.session
@nox.parametrize("part", [f"{k}/{CROSS_PARTS}" for k in range(1, CROSS_PARTS + 1)])
def cross_framework(session: nox.Session, part: str) -> None:
    """torch, jax and tensorflow side by side in one process (one part of those tests)."""
    # jax by default: the tensorflow and torch adapters must not depend on Keras'
    # global backend (its dtype rules follow it), so test them under another one.
    backend = os.environ.get("KERAS_BACKEND", "jax")
    # exit 5 (no tests): a part that `nox -- -k ...` left empty
    _pytest(session, backend, "-m", "cross_framework", "--shard", part, success_codes=(0, 5))


@nox.session
def doctests(session: nox.Session) -> None:
    """The examples in the core docstrings (the adapters' own run in tests/test_help.py)."""
    _pytest(session, os.environ.get("KERAS_BACKEND", "jax"), "--doctest-modules", "multiloss/core")


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


#: The sessions ``nox`` runs by default, longest first (their minutes on the 2-core CI
#: machine, roughly): ``all`` runs them :data:`WORKERS` at a time, each next one as soon as
#: a worker is free. The tests are mostly single-threaded Python on small tensors, so two
#: processes on two cores take about half the wall time of one.
SCHEDULE = (
    "tests(backend='jax')",  # ~10.5: Keras on jax compiles each op eagerly
    *(f"cross_framework(part='{k}/{CROSS_PARTS}')" for k in range(1, CROSS_PARTS + 1)),  # 8-11 each
    "single_framework(framework='jax')",  # ~3: a whole `multiloss check`, jax eager, no cache
    "tests(backend='tensorflow')",  # ~4
    "tests(backend='torch')",  # ~4
    "single_framework(framework='torch')",  # <1
    "docs",  # <1
    "doctests",  # <1
)
WORKERS = 2


@nox.session(name="all")
def all_sessions(session: nox.Session) -> None:
    """Every session in :data:`SCHEDULE`, :data:`WORKERS` at a time, each a ``nox`` process.

    Each session's output goes to ``.nox/logs/<session>.log`` and is printed when the
    session ends, with its time; ``all`` fails if any session failed (the others still
    run). ``nox -- <pytest args>`` passes the arguments on to the test sessions.
    """
    import threading
    import time

    logs = ROOT / ".nox" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    queue = list(SCHEDULE)
    lock = threading.Lock()
    failed: list[str] = []

    def worker(number: int) -> None:
        env = {**os.environ, "MULTILOSS_JAX_CACHE": str(ROOT / ".nox" / f"jax-cache-{number}")}
        while True:
            with lock:
                if not queue:
                    return
                name = queue.pop(0)
            log = logs / (re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") + ".log")
            command = [sys.executable, "-m", "nox", "--no-color", "-s", name]
            if session.posargs:
                command += ["--", *session.posargs]
            start = time.monotonic()
            try:
                with open(log, "w") as out:
                    code = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT,
                                          cwd=ROOT, env=env).returncode
                text = log.read_text(errors="replace")
            except BaseException as exc:  # noqa: BLE001  (a session that cannot run failed)
                code, text = -1, f"{type(exc).__name__}: {exc}"
            minutes = (time.monotonic() - start) / 60
            with lock:
                if code < 0 or code == 130:  # interrupted (Ctrl-C): start nothing more
                    queue.clear()
                print(f"===== {name}: exit {code}, {minutes:.1f} min =====\n{text}", flush=True)
                if code:
                    failed.append(name)

    session.log(f"{len(queue)} sessions, {WORKERS} at a time; logs in {logs}")
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failed:
        session.error(f"failed: {', '.join(failed)} (their output is above)")

"""Every code example of the docs runs as written.

One test per page of docs/ (the generated docs/losses/ pages list signatures, not
examples): its Python blocks run in order in one fresh process, each in a namespace of
its own, then its `multiloss compare` commands run in the same process and working
directory (they read the files the blocks wrote), as `python -m multiloss` runs them. A page whose examples
use several frameworks is marked cross_framework (run once, not per KERAS_BACKEND).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
GENERATED = ("losses",)  # written by docs/build_pages.py from the docstrings

PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
SHELL_BLOCK = re.compile(r"^```(?:bash|sh|shell|console)\n(.*?)^```", re.S | re.M)
IMPORT = re.compile(r"^\s*(?:import|from)\s+(?:multiloss\.)?(\w+)", re.M)
#: The framework an import stands for (peers included).
USES = {"torch": "torch", "pytorch_metric_learning": "torch", "jax": "jax", "optax": "jax",
        "tensorflow": "tensorflow", "keras_rs": "tensorflow"}
ALL_FRAMEWORKS = {"torch", "jax", "tensorflow"}
#: Runs in one fresh process per page: each Python block of the page (stdin's JSON) in a
#: namespace of its own, then each `multiloss compare` command as `python -m multiloss`
#: would (runpy, so the frameworks are imported once per page, not once per command).
#: Torch first: importing it after TensorFlow can crash.
RUNNER = """
import contextlib, io, json, runpy, sys
try:
    import torch  # noqa: F401
except ImportError:
    pass
page = json.load(sys.stdin)
for i, block in enumerate(page["blocks"]):
    exec(compile(block, f"<docs block {i}>", "exec"), {"__name__": "__main__"})
for args in page["commands"]:
    sys.argv, out, code = ["multiloss", *args], io.StringIO(), 0
    with contextlib.redirect_stdout(out):
        try:
            runpy.run_module("multiloss", run_name="__main__", alter_sys=True)
        except SystemExit as exit:
            code = 0 if exit.code is None else (exit.code if isinstance(exit.code, int) else 1)
    print("COMMAND " + json.dumps({"args": args, "code": code, "stdout": out.getvalue()}))
"""


def python_blocks(text: str) -> list[str]:
    return PYTHON_BLOCK.findall(text)


def compare_commands(text: str) -> list[str]:
    """The `multiloss compare` command lines of the page's shell blocks."""
    lines = (line.strip().removeprefix("$ ") for block in SHELL_BLOCK.findall(text)
             for line in block.splitlines())
    return [line.split(" #")[0].strip() for line in lines if line.startswith("multiloss compare ")]


def frameworks_used(text: str) -> set[str]:
    used = {USES[name] for name in IMPORT.findall("\n".join(python_blocks(text))) if name in USES}
    for command in compare_commands(text):
        listed = re.search(r"--frameworks[ =](\S+)", command)
        used |= set(listed.group(1).split(",")) & ALL_FRAMEWORKS if listed else ALL_FRAMEWORKS
    return used


def pages_with_examples() -> list[Path]:
    pages = sorted(p for p in DOCS.rglob("*.md") if p.relative_to(DOCS).parts[0] not in GENERATED)
    return [p for p in pages if python_blocks(p.read_text()) or compare_commands(p.read_text())]


def _param(page: Path):
    text = page.read_text()
    marks = [pytest.mark.cross_framework] if len(frameworks_used(text)) > 1 else []
    return pytest.param(page, id=str(page.relative_to(DOCS)), marks=marks)


def run_examples(blocks: list[str], commands: list[str], cwd: Path, where: str) -> None:
    """Run the Python blocks, then each compare command, in ``cwd``; each must succeed."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)}
    page = {"blocks": blocks, "commands": [shlex.split(c)[1:] for c in commands]}
    result = subprocess.run([sys.executable, "-c", RUNNER], input=json.dumps(page),
                            capture_output=True, text=True, cwd=cwd, env=env, timeout=900)
    assert result.returncode == 0, f"{where}: an example failed:\n{result.stderr[-3000:]}"
    runs = [json.loads(line[len("COMMAND "):]) for line in result.stdout.splitlines()
            if line.startswith("COMMAND ")]
    assert len(runs) == len(commands), f"{where}: {result.stdout[-2000:]}"
    for command, run in zip(commands, runs, strict=True):
        assert run["code"] == 0 and "AGREE" in run["stdout"], (
            f"{where}: `{command}` exited {run['code']}:\n{run['stdout'][-2000:]}")


@pytest.mark.parametrize("page", [_param(p) for p in pages_with_examples()])
def test_page_examples_run(page, tmp_path):
    text = page.read_text()
    run_examples(python_blocks(text), compare_commands(text), tmp_path, str(page.relative_to(ROOT)))


def test_every_migration_guide_proves_its_numbers_with_compare():
    guides = sorted((DOCS / "migration").glob("*.md"))
    assert len(guides) >= 6, guides
    missing = [g.name for g in guides if not compare_commands(g.read_text())]
    assert not missing, f"migration guides without a `multiloss compare` example: {missing}"


def test_example_finder_sees_blocks_and_commands():
    page = (
        "text\n```python\nprint(1)\n```\n"
        "```bash\n$ multiloss compare focal x.npz --frameworks torch,jax  # two\npip install x\n```\n"
        "```python\nimport optax\n```\n"
    )
    assert python_blocks(page) == ["print(1)\n", "import optax\n"]
    assert compare_commands(page) == ["multiloss compare focal x.npz --frameworks torch,jax"]
    assert frameworks_used(page) == {"torch", "jax"}
    assert frameworks_used("```bash\nmultiloss compare focal x.npz\n```\n") == ALL_FRAMEWORKS


def test_a_failing_example_fails(tmp_path):
    with pytest.raises(AssertionError, match="an example failed"):
        run_examples(["raise SystemExit(3)"], [], tmp_path, "synthetic page")


def test_a_command_exiting_with_sys_exit_and_no_code_is_not_failing(tmp_path):
    """``sys.exit()`` (``SystemExit(None)``) is success, as for the shell: a stand-in
    ``multiloss`` package in the working directory (first on the runner's path) exits so;
    ``sys.exit("message")`` is a failure."""
    package = tmp_path / "multiloss"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text("import sys\nprint('AGREE')\nsys.exit()\n")
    run_examples([], ["multiloss compare stand-in"], tmp_path, "synthetic page")
    (package / "__main__.py").write_text("import sys\nprint('AGREE')\nsys.exit('broken')\n")
    with pytest.raises(AssertionError, match="exited 1"):
        run_examples([], ["multiloss compare stand-in"], tmp_path, "synthetic page")


@pytest.mark.cross_framework
def test_a_differing_compare_fails(tmp_path):
    """A command that does not print AGREE (here: no such file) fails the page."""
    with pytest.raises(AssertionError, match="exited"):
        run_examples([], ["multiloss compare cross_entropy missing.npz --frameworks torch"],
                     tmp_path, "synthetic page")

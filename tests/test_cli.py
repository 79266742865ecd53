"""`multiloss check` and `multiloss compare` (console script and in-process), and
`multiloss.compare`."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import multiloss
from multiloss import cli, conformance, frameworks

ROOT = Path(__file__).resolve().parent.parent
ADAPTER_NAMES = ("keras", "torch", "jax", "tensorflow")


def run_cli(*args: str, pythonpath: Path | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The console script when installed next to this Python, else ``python -m multiloss``."""
    script = shutil.which("multiloss", path=str(Path(sys.executable).parent))
    command = [script] if script and pythonpath is None else [sys.executable, "-m", "multiloss"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(
        command + list(args), capture_output=True, text=True, env=env, cwd=cwd or ROOT, timeout=900
    )


def table_rows(out: str) -> dict[tuple[str, str], str]:
    """``(loss, framework) -> row`` of a ``multiloss check`` table (a loss heads its own
    line, its frameworks' rows are indented under it)."""
    rows, loss = {}, None
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("loss / framework")) + 2
    for line in lines[start:]:
        if not line:
            break
        if not line.startswith(" "):
            loss = line
            continue
        framework = re.split(r"\s{2,}", line.strip())[0]
        rows[loss, framework] = line
    return rows


@pytest.mark.cross_framework
def test_check_passes_on_every_loss_and_names_all_four_adapters():
    proc = run_cli("check", "--no-progress")
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    out = proc.stdout
    frameworks_line = next(line for line in out.splitlines() if line.startswith("frameworks:"))
    for name in ADAPTER_NAMES:
        assert name in frameworks_line
    rows = table_rows(out)
    assert all(row.endswith(" pass") for row in rows.values())
    assert {loss for loss, _ in rows} == set(multiloss.available_losses())
    assert max(len(line) for line in out.splitlines()[:-1]) <= 100
    assert out.rstrip().splitlines()[-1].startswith("PASS:")


@pytest.mark.cross_framework
def test_check_fails_naming_a_broken_formula(tmp_path):
    """A scratch copy of the package with binary_cross_entropy scaled by 1.05 fails check."""
    copy = tmp_path / "multiloss"
    shutil.copytree(ROOT / "multiloss", copy, ignore=shutil.ignore_patterns("__pycache__"))
    source_file = copy / "core" / "crossentropy.py"
    source = source_file.read_text()
    start = source.index("def binary_cross_entropy(")
    end = source.find("\n@register", start)
    end = len(source) if end == -1 else end
    body = source[start:end]
    broken = body.replace("reduce(ops, ", "reduce(ops, 1.05 * ")
    assert broken != body, "the formula to break was not found: update this test"
    source_file.write_text(source[:start] + broken + source[end:])

    proc = run_cli(
        "check", "--loss", "binary_cross_entropy,cross_entropy", "--frameworks", "torch,jax",
        "--no-progress", pythonpath=tmp_path, cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr[-3000:]
    rows = table_rows(proc.stdout)
    assert "FAIL" in rows["binary_cross_entropy", "torch"] and "FAIL" in rows["binary_cross_entropy", "jax"]
    assert rows["cross_entropy", "torch"].endswith("pass")
    summary = proc.stdout.rstrip().splitlines()[-1]
    assert summary.startswith("FAIL") and "binary_cross_entropy" in summary and "cross_entropy," not in summary


@pytest.mark.cross_framework
def test_check_json_and_framework_filter():
    proc = run_cli("check", "--loss", "pairwise_hinge_loss", "--frameworks", "torch,tensorflow", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["ok"] is True and report["adapters"] == ["torch", "tensorflow"]
    assert {(r["loss"], r["framework"]) for r in report["results"]} == {
        ("pairwise_hinge_loss", "torch"), ("pairwise_hinge_loss", "tensorflow")
    }
    for row in report["results"]:
        assert row["cases"] > 0 and row["failed"] == 0
        assert 0 <= row["of_tolerance"] <= 1 and row["value"]["max_rel"] < 1e-5


def test_check_in_process_skips_a_framework_that_is_not_installed(monkeypatch, capsys):
    real = frameworks.is_installed
    monkeypatch.setattr(frameworks, "is_installed", lambda a: a != "jax" and real(a))
    code = cli.main(["check", "--loss", "smooth_labels", "--frameworks", "torch,jax", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "skipped jax: jax is not installed" in out
    assert "frameworks: torch" in out and "PASS" in out


def test_progress_bar_without_rich(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "rich.progress", None)  # import fails: plain text bar
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    with cli._Progress(True) as progress:
        assert progress.bar is None
        progress(6, 12, "kl_divergence · jax")
        err = capsys.readouterr().err
    assert "checking [" + "#" * 15 + "." * 15 + "] 6/12 kl_divergence · jax" in err


def test_check_usage_errors(capsys):
    assert cli.main(["check", "--loss", "no_such_loss", "--no-progress"]) == 2
    assert "unknown loss" in capsys.readouterr().err
    assert cli.main(["check", "--frameworks", "mxnet", "--no-progress"]) == 2
    assert "unknown framework" in capsys.readouterr().err


def test_missing_cases_fail_the_report(monkeypatch):
    real = conformance.load_cases
    monkeypatch.setattr(conformance, "load_cases", lambda losses=None, directory=None: {})
    report = conformance.run(["smooth_labels"], ["torch"])
    assert report.missing == ["smooth_labels"] and not report.ok
    assert "without reference cases: smooth_labels" in cli.render_report(report)
    monkeypatch.setattr(conformance, "load_cases", real)


def test_compare_python_api(rng):
    logits = rng.normal(size=(6, 4)).astype(np.float32)
    labels = rng.integers(0, 4, size=6)
    result = multiloss.compare("cross_entropy", logits, labels, label_smoothing=0.1, reduction="none")
    assert result.ok and len(result.frameworks) == 4
    assert [f.split()[0] for f in result.frameworks] == list(ADAPTER_NAMES)
    x = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    want = F.cross_entropy(x, torch.tensor(labels), label_smoothing=0.1, reduction="none")
    (want_grad,) = torch.autograd.grad(want.sum(), x)
    for framework in result.frameworks:
        np.testing.assert_allclose(result.values[framework], want.detach().numpy(), rtol=1e-5)
        np.testing.assert_allclose(result.grads[framework]["y_pred"], want_grad.numpy(), rtol=1e-5, atol=1e-7)
    assert result.max_value_diff < 1e-5 and result.max_grad_diff < 1e-5
    text = str(result)
    for name in ADAPTER_NAMES:
        assert name in text
    assert "AGREE" in text and "max |Δ value|" in text
    assert json.loads(json.dumps(result.to_dict()))["ok"] is True


def test_compare_uses_the_core_default_reduction_in_keras_too(rng):
    a, b = rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=(4, 3)).astype(np.float32)
    result = multiloss.compare("mean_squared_error", a, b)  # Keras' functions default to "none"
    assert result.ok and result.params["reduction"] == "mean"
    assert all(v.shape == () for v in result.values.values()) and len(result.values) == 4


def test_compare_tensors_by_name_and_differences(rng):
    pos, neg = rng.normal(size=5).astype(np.float32), rng.normal(size=5).astype(np.float32)
    result = multiloss.compare("pairwise_hinge_loss", pos_score=pos, neg_score=neg, margin=0.5, frameworks=["torch", "jax"])
    assert result.ok and result.wrt == ["pos_score", "neg_score"]
    result.values["jax"] = result.values["jax"] + 1.0  # a framework that disagrees
    assert not result.ok and result.max_value_diff == pytest.approx(1.0)
    assert "DIFFER" in str(result)
    with pytest.raises(TypeError, match="needs the tensor"):
        multiloss.compare("pairwise_hinge_loss", pos)


@pytest.mark.cross_framework
def test_compare_cli_on_an_npz(tmp_path, rng):
    path = tmp_path / "batch.npz"
    np.savez(
        path, y_pred=rng.normal(size=(5, 3)).astype(np.float32), y_true=rng.integers(0, 3, size=5),
        class_weight=np.array([1.0, 2.0, 0.5]),
    )
    proc = run_cli("compare", "cross_entropy", str(path), "--param", "label_smoothing=0.1", "--param", "reduction=none")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    for name in ADAPTER_NAMES:
        assert any(line.startswith(name) for line in lines), proc.stdout
    assert "max |Δ value| vs keras" in proc.stdout and "max |Δ grad y_pred|" in proc.stdout
    assert "AGREE: max difference between frameworks" in proc.stdout


def test_compare_cli_usage_errors(tmp_path, capsys):
    path = tmp_path / "bad.npz"
    np.savez(path, logits=np.zeros((2, 3), np.float32), labels=np.zeros(2, np.int64))
    assert cli.main(["compare", "cross_entropy", str(path)]) == 2
    assert "must hold arrays named ['y_pred', 'y_true']" in capsys.readouterr().err
    assert cli.main(["compare", "cross_entropy", str(tmp_path / "missing.npz")]) == 2
    (tmp_path / "empty.npz").write_bytes(b"")
    assert cli.main(["compare", "cross_entropy", str(tmp_path / "empty.npz")]) == 2
    assert cli.main(["compare", "cross_entropy", str(path), "--param", "oops"]) == 2


def test_compare_cli_positional_npz(tmp_path, capsys, rng):
    path = tmp_path / "pos.npz"
    np.savez(path, rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=(4, 3)).astype(np.float32))
    assert cli.main(["compare", "mean_squared_error", str(path), "--frameworks", "torch,jax", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["frameworks"]) == {"torch", "jax"} and report["ok"] is True


def test_import_multiloss_loads_no_framework():
    code = (
        "import sys, multiloss; multiloss.compare; import multiloss.conformance, multiloss.cli;"
        "print([m for m in ('torch', 'jax', 'tensorflow', 'keras') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.stdout.strip() == "[]", out.stderr


# --- which frameworks run, and why the others are skipped ----------------------------


@pytest.fixture
def fresh_keras_env(monkeypatch, tmp_path):
    """Keras not imported yet, KERAS_BACKEND unset, no keras.json; ``hide(...)`` makes
    frameworks look uninstalled to multiloss.frameworks."""
    monkeypatch.delitem(sys.modules, "keras", raising=False)
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    real = frameworks._has

    def hide(*names: str) -> None:
        monkeypatch.setattr(frameworks, "_has", lambda module: module not in names and real(module))

    return hide


def test_keras_plan_keeps_keras_default_backend_when_installed(fresh_keras_env):
    plan = frameworks.keras_plan()
    assert plan.backend == "tensorflow"
    assert plan.reason == "Keras' default backend (KERAS_BACKEND unset)"


def test_keras_plan_without_tensorflow_falls_back_like_an_adapter_import(fresh_keras_env):
    fresh_keras_env("tensorflow")
    plan = frameworks.keras_plan()
    assert plan.backend == "torch"
    assert "tensorflow (Keras' default backend) is not installed and KERAS_BACKEND is unset" in plan.reason
    assert "import multiloss.torch" in plan.reason
    assert frameworks.keras_plan(["jax"]).backend == "jax"  # the chosen frameworks first
    assert frameworks.is_installed("keras")


def test_keras_plan_honours_keras_json(fresh_keras_env, tmp_path):
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "jax"}))
    plan = frameworks.keras_plan()
    assert plan.backend == "jax" and str(tmp_path / "keras.json") in plan.reason


def test_keras_skipped_with_the_reason(fresh_keras_env, monkeypatch):
    fresh_keras_env("tensorflow", "torch", "jax")
    adapters, skipped = conformance.select_adapters()
    assert adapters == []
    assert skipped["keras"].startswith("Keras' backend is tensorflow (Keras' default backend, KERAS_BACKEND unset)")
    assert "pip install 'multiloss[torch]'" in skipped["keras"]
    assert skipped["tensorflow"] == "tensorflow is not installed (pip install 'multiloss[tensorflow-cpu]')"
    assert skipped["torch"] == "torch is not installed (pip install 'multiloss[torch]')"

    fresh_keras_env("jax")
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    adapters, skipped = conformance.select_adapters(["keras", "torch"])
    assert adapters == ["torch"]
    assert skipped["keras"] == (
        "KERAS_BACKEND=jax but jax is not installed (pip install 'multiloss[jax]'); "
        "set KERAS_BACKEND to an installed framework or unset it"
    )
    monkeypatch.setenv("KERAS_BACKEND", "numpy")
    assert "multiloss runs Keras on torch, jax, tensorflow" in frameworks.keras_plan().reason


def test_an_adapter_that_cannot_import_is_named_once_with_a_hint():
    error = ModuleNotFoundError("No module named 'tensorflow'", name="tensorflow")
    report = conformance.Report(
        ["keras", "torch"], [conformance.Row("smooth_labels", "torch", cases=3)], {"jax": "jax is not installed"},
        [], [], {"multiloss": multiloss.__version__, "torch": "2"}, None,
        import_errors={"keras": conformance._import_error("keras", error)},
    )
    assert not report.ok
    text = cli.render_report(report)
    assert "FAIL 1/0" not in text and "frameworks: torch 2" in text
    assert (
        "FAIL keras: import multiloss.keras raised ModuleNotFoundError: No module named 'tensorflow' "
        "(pip install 'multiloss[tensorflow-cpu]')"
    ) in text.splitlines()
    assert text.splitlines()[-1] == "FAIL: keras could not be imported (see above)"
    assert json.loads(json.dumps(report.to_dict()))["import_errors"]["keras"].startswith("import multiloss.keras")


# --- the command's polish: --version, parameter names, JSON, width, quiet stderr --------


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"multiloss {multiloss.__version__}\n"


def test_compare_cli_rejects_an_unknown_parameter_before_any_framework_runs(tmp_path, capsys, monkeypatch, rng):
    from multiloss import comparison
    from multiloss.core.registry import get_spec

    def must_not_run(*args, **kwargs):
        raise AssertionError("a framework ran")

    monkeypatch.setattr(comparison, "compare", must_not_run)
    path = tmp_path / "batch.npz"
    np.savez(path, y_pred=rng.normal(size=(4, 3)).astype(np.float32), y_true=rng.integers(0, 2, size=(4, 3)).astype(np.float32))
    assert cli.main(["compare", "sigmoid_focal_loss", str(path), "--param", "gama=2.0"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.splitlines()) == 1
    err = captured.err
    assert "'gama'" in err and "sigmoid_focal_loss" in err and "alpha, gamma" in err
    assert err.rstrip().endswith("did you mean 'gamma'?")
    # the loss' static positional arguments are parameters too
    cli._check_param_names(get_spec("nce_loss"), {"num_sampled": 3, "num_true": 1})
    with pytest.raises(ValueError, match="no parameters"):
        cli._check_param_names(get_spec("smooth_labels"), {"gamma": 3})


def test_compare_json_writes_parameters_as_json_values(tmp_path, capsys, rng):
    from multiloss.comparison import _json_value

    path = tmp_path / "batch.npz"
    np.savez(
        path, y_pred=rng.normal(size=(5, 3)).astype(np.float32), y_true=rng.integers(0, 3, size=5),
        class_weight=np.array([1.0, 2.0, 0.5]),
    )
    argv = ["compare", "cross_entropy", str(path), "--frameworks", "torch", "--json",
            "--param", "label_smoothing=0.1", "--param", "ignore_index=None", "--param", "from_logits=True"]
    assert cli.main(argv) == 0
    params = json.loads(capsys.readouterr().out)["params"]
    assert params == {
        "class_weight": [1.0, 2.0, 0.5], "label_smoothing": 0.1, "ignore_index": None,
        "from_logits": True, "reduction": "mean",
    }
    assert _json_value({"a": (1, np.float32(2.5)), "b": np.inf, "c": np.int64(3), "d": np.bool_(False)}) == {
        "a": [1, 2.5], "b": "inf", "c": 3, "d": False,
    }


def test_check_table_fits_100_columns():
    """The longest registered loss name, the ``keras (tensorflow)`` label, a failing row
    with a huge share of the tolerance and a non-finite error: every line <= 100."""
    longest = max(multiloss.available_losses(), key=len)
    failing = conformance.Row(
        longest, "keras", cases=17, failed=17,
        value=conformance.Error(1.2e-10, math.inf, False, "", 2.0),
        grad=conformance.Error(6.7e5, 3.3e-2, False, "", 12345.0),
        half=conformance.Error(1e-3, 3.1e-3, True, "", 0.5),
    )
    rows = [failing] + [
        conformance.Row(longest, adapter, cases=17, value=conformance.Error(2.6e-4, 1.1e-7, True, "", 0.18))
        for adapter in ("torch", "jax", "tensorflow")
    ]
    report = conformance.Report(
        list(ADAPTER_NAMES), rows, {}, [], [],
        {"multiloss": multiloss.__version__, "keras": "3.15.1", "torch": "2.13.0+cpu", "jax": "0.10.2",
         "tensorflow": "2.21.0"},
        "tensorflow", "Keras' default backend (KERAS_BACKEND unset)",
    )
    text = cli.render_report(report)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 100, "\n".join(line for line in lines if len(line) > 100)
    table = table_rows(text)
    assert table[longest, "keras (tensorflow)"].endswith("FAIL 17/17")
    assert "1e+06%" in table[longest, "keras (tensorflow)"]
    assert table[longest, "torch"].endswith("18%     pass")


def test_quiet_native_logs_drops_tensorflow_log_lines_only(capfd):
    capfd.readouterr()
    with cli.quiet_native_logs():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
        os.write(2, b"I0000 00:00:1795695141.641100   26171 port.cc:153] oneDNN custom operations are on.\n")
        os.write(2, b"kept\nE0000 00:00:1795695186.580863   26171 util.cc:131] oneDNN supports DT_HALF only\n")
        os.write(2, b"W0102 12:34:56.789012  7 ")
        os.write(2, b"some_file.cc:12] a log line written in two pieces\n")
        os.write(2, b"\rchecking 1/2")  # a progress bar
        os.write(2, b"\rchecking 2/2\nError: kept too\n")
    assert capfd.readouterr().err == "kept\n\rchecking 1/2\rchecking 2/2\nError: kept too\n"
    with pytest.raises(RuntimeError), cli.quiet_native_logs():
        raise RuntimeError
    os.write(2, b"I0000 00:00:1.0 1 a.cc:1] after the block: not filtered\n")
    assert capfd.readouterr().err == "I0000 00:00:1.0 1 a.cc:1] after the block: not filtered\n"


def test_quiet_native_logs_forwards_a_partial_line_at_once():
    """A progress bar's line without its newline reaches the real stderr while the block runs."""
    import select

    read_end, write_end = os.pipe()
    saved = os.dup(2)
    os.dup2(write_end, 2)
    try:
        with cli.quiet_native_logs():
            os.write(2, b"\rchecking 3/10")
            ready, _, _ = select.select([read_end], [], [], 5)
            assert ready and os.read(read_end, 100) == b"\rchecking 3/10"
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(write_end)
        os.close(read_end)


def test_progress_bar_still_shows_on_a_terminal(tmp_path):
    """stderr is a terminal: the progress bar draws there although quiet_native_logs()
    points fd 2 at a pipe while the check runs."""
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "multiloss", "check", "--loss", "smooth_labels", "--frameworks", "torch"],
            stdout=subprocess.PIPE, stderr=slave, cwd=ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        )
        os.close(slave)
        stdout, _ = proc.communicate(timeout=300)
        seen = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other end is closed
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(master)
    assert proc.returncode == 0, stdout[-3000:]
    assert b"checking" in seen


@pytest.mark.cross_framework
def test_check_prints_no_tensorflow_log_noise():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    script = shutil.which("multiloss", path=str(Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-m", "multiloss"]
    proc = subprocess.run(
        command + ["check", "--loss", "cross_entropy", "--no-progress"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert proc.stderr == ""

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
from multiloss.verify import check, cli, console, frameworks, logs, report

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


#: Losses of every calling shape: a Keras Loss class, a function only (linear CE), no
#: ``y_true`` (triplet), stateful weighting, a preprocessing function, a sampler.
CHECKED_IN_ONE_PROCESS = (
    "cross_entropy", "sigmoid_focal_loss", "triplet_margin_loss", "linear_cross_entropy",
    "uncertainty_weighting", "smooth_labels", "log_uniform_candidate_sampler", "giou_loss",
)


@pytest.mark.cross_framework
def test_check_passes_and_names_all_four_adapters():
    """The command with all four adapters in one process. Every case of every loss on
    every adapter is test_conformance's (the same runner), and the single_framework
    sessions run the whole ``multiloss check``: here a sample of losses keeps the CI from
    running each case a second time (the whole check took ~3 minutes of it)."""
    proc = run_cli("check", "--no-progress", "--loss", ",".join(CHECKED_IN_ONE_PROCESS))
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    out = proc.stdout
    frameworks_line = next(line for line in out.splitlines() if line.startswith("frameworks:"))
    for name in ADAPTER_NAMES:
        assert name in frameworks_line
    rows = table_rows(out)
    assert all(row.endswith(" pass") for row in rows.values())
    adapters = {(loss, framework.split(" (")[0]) for loss, framework in rows}  # keras (jax)
    assert adapters == {(loss, name) for loss in CHECKED_IN_ONE_PROCESS for name in ADAPTER_NAMES}
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
    with console.Progress(True) as progress:
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
    from multiloss.verify import reference

    monkeypatch.setattr(reference, "load_cases", lambda losses=None, directory=None: {})
    result = check.run(["smooth_labels"], ["torch"])
    assert result.missing == ["smooth_labels"] and not result.ok
    assert "without reference cases: smooth_labels" in report.render_report(result)


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
    assert "AGREE" in text and "the largest absolute difference from the first framework, keras" in text
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
    assert "max |Δ|: the largest absolute difference from the first framework, keras" in proc.stdout
    assert re.search(r"^framework +value +grad y_pred$", proc.stdout, re.M), proc.stdout
    assert "AGREE: max difference between frameworks" in proc.stdout
    assert max(len(line) for line in lines) <= 100


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
        "import sys, multiloss; multiloss.compare; import multiloss.verify.check, multiloss.verify.cli;"
        "print([m for m in ('torch', 'jax', 'tensorflow', 'keras') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.stdout.strip() == "[]", out.stderr


# --- which frameworks run, and why the others are skipped ----------------------------


@pytest.fixture
def fresh_keras_env(monkeypatch, tmp_path):
    """Keras not imported yet, KERAS_BACKEND unset, no keras.json; ``hide(...)`` makes
    frameworks look uninstalled to multiloss.verify.frameworks."""
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
    adapters, skipped = frameworks.select_adapters()
    assert adapters == []
    assert skipped["keras"].startswith("Keras' backend is tensorflow (Keras' default backend, KERAS_BACKEND unset)")
    assert "pip install 'multiloss[torch]'" in skipped["keras"]
    assert skipped["tensorflow"] == "tensorflow is not installed (pip install 'multiloss[tensorflow-cpu]')"
    assert skipped["torch"] == "torch is not installed (pip install 'multiloss[torch]')"

    fresh_keras_env("jax")
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    adapters, skipped = frameworks.select_adapters(["keras", "torch"])
    assert adapters == ["torch"]
    assert skipped["keras"] == (
        "KERAS_BACKEND=jax but jax is not installed (pip install 'multiloss[jax]'); "
        "set KERAS_BACKEND to an installed framework or unset it"
    )
    monkeypatch.setenv("KERAS_BACKEND", "numpy")
    assert "multiloss runs Keras on torch, jax, tensorflow" in frameworks.keras_plan().reason


def test_an_adapter_that_cannot_import_is_named_once_with_a_hint():
    error = ModuleNotFoundError("No module named 'tensorflow'", name="tensorflow")
    result = report.Report(
        ["keras", "torch"], [report.Row("smooth_labels", "torch", cases=3)], {"jax": "jax is not installed"},
        [], [], {"multiloss": multiloss.__version__, "torch": "2"}, None,
        import_errors={"keras": frameworks.import_error_message("keras", error)},
    )
    assert not result.ok
    text = report.render_report(result)
    assert "FAIL 1/0" not in text and "frameworks: torch 2" in text
    assert (
        "FAIL keras: import multiloss.keras raised ModuleNotFoundError: No module named 'tensorflow' "
        "(pip install 'multiloss[tensorflow-cpu]')"
    ) in text.splitlines()
    assert text.splitlines()[-1] == "FAIL: keras could not be imported (see above)"
    assert json.loads(json.dumps(result.to_dict()))["import_errors"]["keras"].startswith("import multiloss.keras")


# --- the command's polish: --version, parameter names, JSON, width, quiet stderr --------


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"multiloss {multiloss.__version__}\n"


def test_compare_cli_rejects_an_unknown_parameter_before_any_framework_runs(tmp_path, capsys, monkeypatch, rng):
    from multiloss.core.registry import get_spec
    from multiloss.verify import compare as comparison
    from multiloss.verify.console import UsageError

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
    comparison.check_param_names(get_spec("nce_loss"), {"num_sampled": 3, "num_true": 1})
    with pytest.raises(UsageError, match="no parameters"):
        comparison.check_param_names(get_spec("smooth_labels"), {"gamma": 3})


def test_compare_json_writes_parameters_as_json_values(tmp_path, capsys, rng):
    from multiloss.verify.compare import _json_value

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
    from multiloss.verify.runner import Error

    failing = report.Row(
        longest, "keras", cases=17, failed=17,
        value=Error(1.2e-10, math.inf, False, "", 2.0),
        grad=Error(6.7e5, 3.3e-2, False, "", 12345.0),
        half=Error(1e-3, 3.1e-3, True, "", 0.5),
    )
    rows = [failing] + [
        report.Row(longest, adapter, cases=17, value=Error(2.6e-4, 1.1e-7, True, "", 0.18))
        for adapter in ("torch", "jax", "tensorflow")
    ]
    result = report.Report(
        list(ADAPTER_NAMES), rows, {}, [], [],
        {"multiloss": multiloss.__version__, "keras": "3.15.1", "torch": "2.13.0+cpu", "jax": "0.10.2",
         "tensorflow": "2.21.0"},
        "tensorflow", "Keras' default backend (KERAS_BACKEND unset)",
    )
    text = report.render_report(result)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 100, "\n".join(line for line in lines if len(line) > 100)
    table = table_rows(text)
    assert table[longest, "keras (tensorflow)"].endswith("FAIL 17/17")
    assert "1e+06%" in table[longest, "keras (tensorflow)"]
    assert table[longest, "torch"].endswith("18%     pass")


def test_compare_text_fits_100_columns_and_keeps_everything():
    """Six gradients with long names, an array parameter, huge values, a long error: every
    line <= 100, every number still printed (the gradient columns wrap into blocks)."""
    from multiloss.verify.compare import Comparison

    names = [f"embedding_table_of_tower_{i}" for i in range(6)]
    value = np.full(32, -1.2345678e38)
    grads = {f: {k: np.full((4,), 0.0) for k in names} for f in ("torch", "jax", "tensorflow")}
    grads["jax"] = {k: np.full((4,), 1e-7 * (i + 1)) for i, k in enumerate(names)}
    error = "ValueError: " + " ".join(f"word{i}" for i in range(60)) + "\nsecond line of it"
    result = Comparison(
        loss=max(multiloss.available_losses(), key=len),
        params={"class_weight": np.linspace(0.5, 2.0, 50), "mode": "x" * 30, "reduction": "none"},
        inputs={k: "float32 (1024, 4096, 3)" for k in names},
        wrt=names,
        values={f: value for f in ("torch", "jax", "tensorflow")},
        grads=grads,
        errors={"keras (tensorflow)": error},
        skipped={},
        rtol=1e-5,
        atol=1e-6,
    )
    text = str(result)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 100, "\n".join(line for line in lines if len(line) > 100)
    for i, name in enumerate(names):
        assert re.search(rf"\bgrad {name}\b", text), name
        assert f"{1e-7 * (i + 1):.3g}" in text
    headers = [line for line in lines if line.startswith("framework ")]
    assert len(headers) > 2, "the gradient columns were not cut into blocks"
    for framework in ("torch", "jax", "tensorflow"):  # in the values table and every block
        assert sum(line.startswith(framework + " ") for line in lines) == len(headers)
    assert " ".join(error.split()) in " ".join(text.split())
    assert "-1.234568e+38" in text and "class_weight=[0.5, 0.5306122, 0.5612245, 0.5918367, ...] shape (50,)" in " ".join(text.split())
    assert lines[-1].startswith("DIFFER: max difference between frameworks")


# --- the README shows what the commands print ----------------------------------------------

README = (ROOT / "README.md").read_text()
NUMBER = r"(0|\d\.\de[+-]\d\d|inf|nan)"


def readme_output(command: str) -> list[str]:
    """The lines of the README's output block that follows the bash block running ``command``."""
    match = re.search(rf"```bash\n{re.escape(command)}\n```\n\n```\n(.*?)```", README, re.S)
    assert match, f"the README shows no output for {command!r}"
    return match.group(1).splitlines()


def cells(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def test_readme_check_verdict_counts_every_loss_and_case():
    """The verdict of the README's full run counts today's losses and reference cases."""
    from multiloss.verify import reference

    total = sum(len(cases) for cases in reference.load_cases().values())
    losses = len(multiloss.available_losses())
    assert readme_output(".venv/bin/multiloss check")[-1] == (
        f"PASS: {losses} losses x 4 frameworks, {4 * total} case runs, "
        "every value and gradient within tolerance"
    )


@pytest.mark.cross_framework
def test_readme_check_sample_matches_the_command(capsys):
    """``multiloss check`` on the README's loss prints the README's lines: the same header,
    framework and Keras lines, table columns, row format and case counts (timings and
    errors may differ)."""
    sample = readme_output(".venv/bin/multiloss check")
    loss = sample[sample.index(next(line for line in sample if line.startswith("loss /"))) + 2]
    assert cli.main(["check", "--loss", loss, "--no-progress"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == sample[0]
    versions = r"frameworks: keras \((torch|jax|tensorflow)\) \S+, torch \S+, jax \S+, tensorflow \S+"
    assert re.fullmatch(versions, sample[1]) and re.fullmatch(versions, out[1]), (sample[1], out[1])
    assert sample[2].startswith("keras runs on ") and out[2].startswith("keras runs on ")
    assert sample[3] == out[3] == ""
    assert cells(sample[4]) == cells(out[4])  # the header
    assert len(sample[5].split()) == len(out[5].split()) == len(cells(out[4]))  # the rule
    assert sample[6] == out[6] == loss
    row = rf"(keras \((torch|jax|tensorflow)\)|torch|jax|tensorflow) \d+( {NUMBER}){{5}} \d+% pass"
    readme_rows, rows = sample[7:11], out[7:11]
    for readme_row, actual in zip(readme_rows, rows, strict=True):
        assert readme_row.startswith("  ") and actual.startswith("  ")
        assert re.fullmatch(row, " ".join(cells(readme_row))), readme_row
        assert re.fullmatch(row, " ".join(cells(actual))), actual
        assert cells(readme_row)[1] == cells(actual)[1]  # the number of cases
    framework = [cells(r)[0].split()[0] for r in readme_rows]
    assert framework == [cells(r)[0].split()[0] for r in rows] == list(ADAPTER_NAMES)
    assert sample[11] == "..." and out[11] == ""
    assert re.fullmatch(r"PASS: 1 loss x 4 frameworks, \d+ case runs, every value and gradient "
                        r"within tolerance", out[-1])


@pytest.mark.cross_framework
def test_readme_compare_sample_matches_the_command(tmp_path, capsys):
    """``multiloss compare`` on a batch like the README's prints the README's lines: the
    same call line, tables, row formats, tolerance and verdict (numbers may differ)."""
    command = "multiloss compare cross_entropy batch.npz --param label_smoothing=0.1 --param reduction=none"
    sample = readme_output(command)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "batch.npz", y_pred=rng.normal(size=(32, 10)).astype("float32"),
             y_true=rng.integers(0, 10, size=32))
    argv = command.replace("batch.npz", str(tmp_path / "batch.npz")).split()[1:]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(sample)
    assert out[0] == sample[0] and out[1] == sample[1] == ""
    label = r"(keras \((torch|jax|tensorflow)\)|torch|jax|tensorflow)"
    diff = r"(0|\d+(\.\d+)?(e[+-]\d\d)?|inf|nan)"  # a difference, to 3 digits
    value_row = rf"{label} \[(-?\d[\d.e+-]*, ){{4}}\.\.\.\] \(32,\)"
    diff_row = rf"{label}( {diff})+"
    verdict = rf"AGREE: max difference between frameworks: value {diff}, gradient {diff}"
    for readme_line, line in zip(sample[2:], out[2:], strict=True):
        if not readme_line or readme_line.startswith(("framework ", "tolerance:")):
            assert cells(readme_line) == cells(line), (readme_line, line)
        elif readme_line.startswith("-"):  # a rule: one run of dashes per column
            assert len(readme_line.split()) == len(line.split()) and set(line) == {"-", " "}
        elif readme_line.startswith("max |Δ|"):
            first = r"keras \(\w+\)"
            assert re.sub(first, "keras", readme_line) == re.sub(first, "keras", line)
        elif readme_line.startswith("AGREE"):
            assert re.fullmatch(verdict, readme_line) and re.fullmatch(verdict, line), line
        else:
            readme_cells, line_cells = cells(readme_line), cells(line)
            assert readme_cells[0].split()[0] == line_cells[0].split()[0]  # the framework
            pattern = value_row if readme_cells[-1] == "(32,)" else diff_row
            assert re.fullmatch(pattern, " ".join(readme_cells)), readme_line
            assert re.fullmatch(pattern, " ".join(line_cells)), line


def test_quiet_native_logs_drops_tensorflow_log_lines_only(capfd):
    capfd.readouterr()
    with logs.quiet_native_logs():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
        os.write(2, b"I0000 00:00:1795695141.641100   26171 port.cc:153] oneDNN custom operations are on.\n")
        os.write(2, b"kept\nE0000 00:00:1795695186.580863   26171 util.cc:131] oneDNN supports DT_HALF only\n")
        os.write(2, b"W0102 12:34:56.789012  7 ")
        os.write(2, b"some_file.cc:12] a log line written in two pieces\n")
        os.write(2, b"\rchecking 1/2")  # a progress bar
        os.write(2, b"\rchecking 2/2\nError: kept too\n")
    assert capfd.readouterr().err == "kept\n\rchecking 1/2\rchecking 2/2\nError: kept too\n"
    with pytest.raises(RuntimeError), logs.quiet_native_logs():
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
        with logs.quiet_native_logs():
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


def test_compare_takes_a_tensor_given_as_a_param_over_the_files(tmp_path):
    from multiloss.verify.compare import compare_file

    logits = np.array([[2.0, 0.5, 1.0], [0.1, 1.0, 3.0]], np.float32)
    path = tmp_path / "batch.npz"
    np.savez(path, y_pred=logits, y_true=np.array([1, 2]))
    result = compare_file("cross_entropy", str(path), {"y_true": [0, 1], "reduction": "none"},
                          frameworks=["torch"])
    want = F.cross_entropy(torch.from_numpy(logits).double(), torch.tensor([0, 1]), reduction="none")
    np.testing.assert_allclose(result.values["torch"], want.numpy(), rtol=1e-6)

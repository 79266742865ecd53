"""The figures of the docs, every curve computed with multiloss itself.

    python docs/figures.py          # (re)write docs/figures/*.svg
    python docs/figures.py --check  # exit 1 if a figure is stale or missing, or no page shows it

The losses come from ``multiloss.torch`` (any adapter gives the same numbers). The
multi-task figure is drawn from the run of ``examples/multitask_torch.py`` stored in
docs/figures/multitask_history.json (6 significant digits): a short float32 training can
differ in its last bits from one CPU to another (AVX2, AVX-512), so ``--check`` reruns it
and compares its history to the stored one within :data:`HISTORY_RTOL` /
:data:`HISTORY_ATOL`, then compares the SVG drawn from the stored run byte for byte. The
SVGs are deterministic (fixed ``svg.hashsalt``, no date in the metadata), so a rerun
without a change in the library rewrites the same bytes. The benchmark charts
(docs/benchmarks.svg, docs/large_vocab.svg) are written by benchmarks/ (minutes on a
quiet machine), not here; ``--check`` only requires that a page shows them.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
EXAMPLES = ROOT / "examples"
if str(ROOT) not in sys.path:  # the checkout's multiloss when run as a script
    sys.path.insert(0, str(ROOT))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import multiloss.torch as ml  # noqa: E402

OUT = HERE / "figures"
#: Charts written by benchmarks/ that a page must show too.
BENCHMARK_CHARTS = (HERE / "benchmarks.svg", HERE / "large_vocab.svg")
#: The run of examples/multitask_torch.py the multi-task figure is drawn from.
HISTORY = OUT / "multitask_history.json"
#: How far a rerun of that training may drift from the stored run (another CPU's float32).
HISTORY_RTOL, HISTORY_ATOL = 1e-3, 1e-5

plt.rcParams.update({
    "svg.hashsalt": "multiloss-docs",
    "svg.fonttype": "none",  # text stays text: smaller files, the page's font
    "font.size": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "figure.figsize": (6.4, 4.0),
})


def _tensor(values) -> torch.Tensor:
    return torch.as_tensor(np.asarray(values, dtype=np.float64))


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def focal_against_pt():
    """Focal loss of the true class against its probability p_t, for several γ."""
    pt = np.linspace(0.002, 0.998, 400)
    x, y = _tensor(_logit(pt)), torch.ones(len(pt), dtype=torch.float64)
    fig, ax = plt.subplots()
    for gamma in (0, 0.5, 1, 2, 5):
        loss = ml.sigmoid_focal_loss(x, y, alpha=None, gamma=gamma, reduction="none")
        label = "γ = 0 (cross entropy)" if gamma == 0 else f"γ = {gamma}"
        ax.plot(pt, loss.numpy(), label=label)
    ax.set(xlabel="probability of the true class $p_t$", ylabel="loss", ylim=(0, 5),
           xlim=(0, 1), title="Focal loss: well-classified examples ($p_t$ > 0.6) fade out")
    ax.legend()
    return fig


def poly1_against_ce():
    """Poly-1 cross entropy against p_t for several ε (ε = 0 is cross entropy)."""
    pt = np.linspace(0.002, 0.998, 400)
    logits = _tensor(np.stack([np.zeros_like(pt), _logit(pt)], axis=-1))  # softmax p_1 = p_t
    labels = torch.ones(len(pt), dtype=torch.long)
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.8, 3.8))
    for epsilon in (-1, 0, 1, 2):
        loss = ml.poly1_cross_entropy(logits, labels, epsilon=epsilon, reduction="none").numpy()
        ce = ml.cross_entropy(logits, labels, reduction="none").numpy()
        label = "ε = 0 (cross entropy)" if epsilon == 0 else f"ε = {epsilon}"
        left.plot(pt, loss, label=label)
        right.plot(pt, loss - ce, label=label)
    left.set(xlabel="$p_t$", ylabel="loss", ylim=(-0.5, 5), xlim=(0, 1), title="Poly-1 loss")
    right.set(xlabel="$p_t$", ylabel="poly-1 − cross entropy", xlim=(0, 1),
              title="The added term ε (1 − $p_t$)")
    left.legend()
    fig.tight_layout()
    return fig


def circle_decision_boundary():
    """Circle loss over the (s_n, s_p) plane: its decision boundary is an arc."""
    grid = np.linspace(-0.2, 1.0, 121)
    sn, sp = np.meshgrid(grid, grid)
    fig, ax = plt.subplots(figsize=(5.6, 5.0))
    shown = None
    for margin, style in ((0.1, ":"), (0.25, "-"), (0.4, "--")):
        loss = ml.circle_loss(_tensor(sp.reshape(-1, 1)), _tensor(sn.reshape(-1, 1)),
                              margin=margin, gamma=16.0, reduction="none")
        loss = loss.numpy().reshape(sn.shape)
        if margin == 0.25:
            shown = ax.contourf(sn, sp, np.minimum(loss, 3.0), levels=12, cmap="Blues")
        # the decision boundary: the two similarity terms cancel, loss = log 2
        lines = ax.contour(sn, sp, loss, levels=[np.log(2.0)], colors="black", linestyles=style)
        ax.clabel(lines, fmt={np.log(2.0): f"m = {margin}"}, fontsize=8)
    fig.colorbar(shown, ax=ax, label="circle loss, m = 0.25, γ = 16 (capped at 3)")
    ax.plot([0], [1], "k+", markersize=10)
    ax.set(xlabel="between-class similarity $s_n$", ylabel="within-class similarity $s_p$",
           aspect="equal", title="Circle loss: decision boundaries (loss = log 2)")
    return fig


def dice_against_iou():
    """Dice and Jaccard (IoU) losses of a predicted mask sliding off its target."""
    size, width = 100, 40
    target = np.zeros((1, size, 1))
    target[0, :width] = 1.0
    shifts = np.arange(0, width + 1)
    predictions = np.zeros((len(shifts), size, 1))
    for row, shift in enumerate(shifts):
        predictions[row, shift:shift + width] = 1.0
    targets = _tensor(np.repeat(target, len(shifts), axis=0))
    common = {"from_logits": False, "smooth": 1e-6, "reduction": "none"}
    dice = ml.dice_loss(_tensor(predictions), targets, **common).numpy()
    jaccard = ml.jaccard_loss(_tensor(predictions), targets, **common).numpy()
    overlap = (width - shifts) / (width + shifts)  # the masks' intersection over union
    fig, ax = plt.subplots()
    ax.plot(overlap, dice, label="dice_loss")
    ax.plot(overlap, jaccard, label="jaccard_loss (1 − IoU)")
    ax.set(xlabel="intersection over union of prediction and target",
           ylabel="loss", xlim=(0, 1), ylim=(0, 1),
           title="Dice forgives partial overlap more than Jaccard")
    ax.legend()
    return fig


@contextlib.contextmanager
def _examples_importable() -> Iterator[None]:
    """examples/ on ``sys.path`` for the ``with`` block only (its modules import each other)."""
    sys.path.insert(0, str(EXAMPLES))
    try:
        yield
    finally:
        sys.path.remove(str(EXAMPLES))


def _significant(value, digits: int = 6):
    """``value`` (a float or a nested list of floats) rounded to ``digits`` significant digits."""
    if isinstance(value, list):
        return [_significant(v, digits) for v in value]
    return value if isinstance(value, int) else float(f"{value:.{digits}g}")


def train_history() -> list[dict]:
    """A fresh run of examples/multitask_torch.py: one dict per step, 6 significant digits."""
    with _examples_importable():
        import multitask_torch

        with contextlib.redirect_stdout(io.StringIO()):
            history = multitask_torch.main()
    return [{key: _significant(value) for key, value in step.items()} for step in history]


def history_json(history: list[dict]) -> str:
    """The stored form of a run: one step a line, so a diff shows which steps moved."""
    return "[\n" + ",\n".join(json.dumps(step) for step in history) + "\n]\n"


def history_drift(stored: list[dict], fresh: list[dict]) -> str:
    """Where a fresh run leaves the stored one (beyond the tolerances); "" if nowhere."""
    if [sorted(s) for s in stored] != [sorted(f) for f in fresh]:
        return (f"the run has {len(fresh)} steps of {sorted(fresh[0]) if fresh else []}, "
                f"the stored one {len(stored)} of {sorted(stored[0]) if stored else []}")
    for old, new in zip(stored, fresh, strict=True):
        for key in old:
            if not np.allclose(new[key], old[key], rtol=HISTORY_RTOL, atol=HISTORY_ATOL):
                return f"step {old['step']}, {key}: stored {old[key]}, now {new[key]}"
    return ""


def multitask_weights():
    """The task weights uncertainty weighting learns over the run of examples/multitask_torch.py
    (as stored in :data:`HISTORY`)."""
    history = json.loads(HISTORY.read_text())
    steps = [h["step"] for h in history]
    weights = []
    for h in history:  # the weight of each task: d total / d L_t at that step's log_vars
        losses = torch.ones(2, dtype=torch.float64, requires_grad=True)
        total = ml.uncertainty_weighting(losses, _tensor(h["log_vars"]),
                                         task_types=["regression", "classification"])
        weights.append(torch.autograd.grad(total, losses)[0].numpy())
    weights = np.array(weights)
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.8, 3.8))
    left.semilogy(steps, [h["mse"] for h in history], label="regression (MSE)")
    left.semilogy(steps, [h["cross_entropy"] for h in history], label="classification (CE)")
    left.set(xlabel="training step", ylabel="task loss", title="Task losses")
    right.plot(steps, weights[:, 0], label="regression: ½ exp(−s₁)")
    right.plot(steps, weights[:, 1], label="classification: exp(−s₂)")
    right.set(xlabel="training step", ylabel="weight of the task loss",
              title="Learned weights (UncertaintyWeighting)")
    left.legend()
    right.legend()
    fig.tight_layout()
    return fig


#: file name -> function drawing it.
FIGURES: dict[str, Callable] = {
    "focal_pt.svg": focal_against_pt,
    "poly1_ce.svg": poly1_against_ce,
    "circle_boundary.svg": circle_decision_boundary,
    "dice_iou.svg": dice_against_iou,
    "multitask_weights.svg": multitask_weights,
}
#: The figure drawn from :data:`HISTORY`.
MULTITASK = "multitask_weights.svg"


def svg(draw: Callable) -> bytes:
    """The figure ``draw`` makes, as deterministic SVG bytes."""
    fig = draw()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def check_history() -> list[str]:
    """The problems of the stored run: missing, or no longer what the example trains."""
    where = HISTORY.relative_to(ROOT)
    if not HISTORY.exists():
        return [f"missing: {where} (run python docs/figures.py)"]
    drift = history_drift(json.loads(HISTORY.read_text()), train_history())
    if not drift:
        return []
    return [f"out of date: {where}: examples/multitask_torch.py no longer trains as stored "
            f"({drift}; tolerance rtol {HISTORY_RTOL:g}, atol {HISTORY_ATOL:g}); "
            f"run python docs/figures.py"]


def unreferenced() -> list[str]:
    """Figures (ours and the benchmark charts) that no page of docs/ shows."""
    pages = "\n".join(p.read_text() for p in HERE.rglob("*.md"))
    wanted = [OUT / name for name in FIGURES] + list(BENCHMARK_CHARTS)
    return [str(p.relative_to(ROOT)) for p in wanted if p.name not in pages]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="fail if a figure is out of date or no page shows it")
    args = parser.parse_args(argv)
    problems = check_history() if args.check else []
    if not args.check:
        OUT.mkdir(exist_ok=True)
        HISTORY.write_text(history_json(train_history()))
    for name, draw in FIGURES.items():
        path = OUT / name
        if args.check:
            if name == MULTITASK and not HISTORY.exists():
                continue  # reported by check_history
            if not path.exists() or path.read_bytes() != svg(draw):
                problems.append(f"out of date: {path.relative_to(ROOT)} (run python docs/figures.py)")
        else:
            path.write_bytes(svg(draw))
    problems += [f"no page shows {name}" for name in unreferenced()]
    problems += [f"missing: {p.relative_to(ROOT)} (written by benchmarks/)"
                 for p in BENCHMARK_CHARTS if not p.exists()]
    for problem in problems:
        print(problem)
    if not args.check:
        print(f"wrote {len(FIGURES)} figures to {OUT.relative_to(ROOT)}/")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

"""multiloss against native code: forward + backward time, in one run, with robust statistics.

    python benchmarks/bench.py                      # everything; writes docs/benchmarks.md + .svg
    python benchmarks/bench.py --quick --only focal # fewer repeats, cases whose id has "focal"
    python benchmarks/bench.py --frameworks torch,jax --no-docs

What is timed. Every case is a pair: a multiloss loss (public API only:
``multiloss.torch.<loss>``, ``multiloss.jax.<loss>``, ``multiloss.tensorflow.<loss>``) and
the native code a user would otherwise write (``torch.nn.functional``, the torchvision
focal formula written out in torch, ``optax.losses``, ``tf.nn``). One *call* computes the
loss value and its gradient w.r.t. the logits:

* torch eager: ``torch.autograd.grad(loss_fn(x, t), x)``;
* torch compile: the same with ``loss_fn = torch.compile(loss_fn)`` on both sides
  (Inductor compiles the forward and, through AOTAutograd, the backward);
* jax: ``jax.jit(jax.value_and_grad(loss_fn))``, waited for with ``block_until_ready``;
* tensorflow: ``tf.function(jit_compile=True)`` around a ``GradientTape``;
* tiny [8, 4] torch eager: forward+backward, and forward alone (the loss call with
  inputs that require grad, as in training), where per-call overhead is all there is.

Statistics. The two sides of a pair are interleaved in one process: after warm-up (and
compilation), each side's calls are grouped in *blocks* of ``n`` calls (``n`` chosen so
that a block lasts at least 20 ms, 10 ms with ``--quick``; 1 for large inputs), and the
run alternates one block of each side per *round*, the order swapped every round
(AB BA AB ...), until at least 15 rounds and 8 s have passed (3 rounds and 0.4 s with
``--quick``; at most 30 s once 5 rounds are done). The time per call of a side is the
median over rounds of (block time / n); the ratio is the median of the per-round ratios
multiloss / native (paired rounds cancel the slow drifts a shared machine adds), and its
interquartile range is printed as the spread. Garbage collection is off while blocks
run. ``ratio < 1`` means multiloss is faster. Threads: torch and TensorFlow run with
``--threads`` intra-op threads (default 2), JAX with XLA's default pool (one thread per
core); the tiny cases run torch with 1 thread (they never run in parallel, and idle
OpenMP workers on a shared 2-core machine stalled them by up to 16 ms).

Memory bandwidth (sigmoid focal). A forward+backward pass must read the logits and the
targets and write the gradient: 12 bytes per float32 element at least. The achieved
rate 12 * N / time is divided by the copy bandwidth of the machine, measured here as
``dst.copy_(src)`` on a 64 MiB float32 tensor with torch at the same thread count
(2 * 64 MiB moved per copy, median of blocks).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import importlib.util
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FRAMEWORKS = ("torch", "jax", "tensorflow")
REQUIRES = {"torch": ("torch",), "jax": ("jax", "optax"), "tensorflow": ("tensorflow",)}
BYTES_PER_ELEMENT = 12  # focal fwd+bwd, float32: read logits + read targets + write grad
COPY_ELEMENTS = 16 * 2**20  # 64 MiB of float32 for the copy-bandwidth reference
TINY = (8, 4)
# Tiny inputs never run in parallel, but with 2 threads on a shared 2-core machine
# torch's idle OpenMP workers stalled calls by up to 16 ms: the tiny cases use 1 thread.
TINY_THREADS = 1


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Settings:
    """How long each pair is timed."""

    warmup: int = 3  # calls per side before timing (after the compiling first call)
    block_s: float = 0.02  # a block lasts at least this long
    min_rounds: int = 15
    min_time_s: float = 8.0  # per pair, both sides together
    max_time_s: float = 30.0  # ... but stop after this once 5 rounds are done
    max_rounds: int = 400
    retry_wait_s: float = 60.0  # a multiloss call that fails is retried once after this


FULL = Settings()
QUICK = Settings(warmup=1, block_s=0.01, min_rounds=3, min_time_s=0.4, max_time_s=5.0,
                 max_rounds=50)


@dataclass
class Case:
    """One pair to time. ``build()`` makes the inputs and returns two zero-argument
    callables (multiloss, native), each one synchronised call."""

    framework: str
    mode: str
    name: str
    shape: tuple[int, int]
    native: str
    build: Callable[[], tuple[Callable[[], Any], Callable[[], Any]]]
    bandwidth: bool = False  # report the fraction of copy bandwidth reached
    torch_threads: int | None = None  # run with this many torch threads (None: --threads)

    @property
    def ident(self) -> str:
        return f"{self.framework}/{self.mode}/{self.name}/{shape_str(self.shape)}"


@dataclass
class Row:
    """The result of one case."""

    case: Case
    ml_s: float = math.nan  # median seconds per call, multiloss
    native_s: float = math.nan
    ratio: float = math.nan  # median of per-round ratios multiloss / native
    q1: float = math.nan  # quartiles of the per-round ratios
    q3: float = math.nan
    rounds: int = 0
    error: str = ""


def shape_str(shape: tuple[int, ...]) -> str:
    return "x".join(str(s) for s in shape)


# ------------------------------------------------------------------------- statistics


def _block_size(fn: Callable[[], Any], block_s: float) -> int:
    """Calls per block so that one block lasts at least ``block_s``."""
    k = 1
    while True:
        start = time.perf_counter()
        for _ in range(k):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= 0.2 * block_s or k >= 10_000:
            return max(1, math.ceil(k * block_s / max(elapsed, 1e-9)))
        k *= 10


def time_interleaved(fns: list[Callable[[], Any]], cfg: Settings) -> list[list[float]]:
    """Seconds per call of each function, one value per round, blocks interleaved
    (the order reversed every other round)."""
    for fn in fns:
        for _ in range(cfg.warmup):
            fn()
    sizes = [_block_size(fn, cfg.block_s) for fn in fns]
    per_call: list[list[float]] = [[] for _ in fns]
    gc.collect()
    gc_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        rounds = 0
        while _more_rounds(rounds, time.perf_counter() - start, cfg):
            order = range(len(fns)) if rounds % 2 == 0 else reversed(range(len(fns)))
            for i in order:
                fn, n = fns[i], sizes[i]
                t0 = time.perf_counter()
                for _ in range(n):
                    fn()
                per_call[i].append((time.perf_counter() - t0) / n)
            rounds += 1
    finally:
        if gc_enabled:
            gc.enable()
    return per_call


def _more_rounds(rounds: int, elapsed: float, cfg: Settings) -> bool:
    if rounds >= cfg.max_rounds or (rounds >= 5 and elapsed >= cfg.max_time_s):
        return False
    return rounds < cfg.min_rounds or elapsed < cfg.min_time_s


def summarize(row: Row, ml_times: list[float], native_times: list[float]) -> Row:
    """Medians of each side and of the paired per-round ratios, with quartiles."""
    ratios = [a / b for a, b in zip(ml_times, native_times, strict=True)]
    row.ml_s = statistics.median(ml_times)
    row.native_s = statistics.median(native_times)
    row.ratio = statistics.median(ratios)
    if len(ratios) >= 2:
        row.q1, _, row.q3 = statistics.quantiles(ratios, n=4)
    row.rounds = len(ratios)
    return row


def _with_retry(what: str, fn: Callable[[], Any], wait_s: float) -> Any:
    """``fn()``; if it fails (multiloss may be mid-edit), wait and try once more."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001
        log(f"  {what} failed ({type(exc).__name__}: {exc}); retrying in {wait_s:.0f} s")
        time.sleep(wait_s)
        return fn()


def run_case(case: Case, cfg: Settings) -> Row:
    """Build, warm up, time one pair; a failure becomes a row with its error."""
    row = Row(case)
    start = time.perf_counter()
    try:
        with torch_threads(case.torch_threads):
            ml_fn, native_fn = _with_retry(case.ident, lambda: _first_calls(case),
                                           cfg.retry_wait_s)
            ml_times, native_times = time_interleaved([ml_fn, native_fn], cfg)
        summarize(row, ml_times, native_times)
    except Exception as exc:  # noqa: BLE001
        row.error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    log(f"  {case.ident:<48} {time.perf_counter() - start:6.1f} s"
        + (f"  ERROR {row.error}" if row.error else f"  ratio {row.ratio:.2f}"))
    return row


@contextlib.contextmanager
def torch_threads(threads: int | None):
    """Temporarily run torch with ``threads`` intra-op threads (no-op for None)."""
    if threads is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _first_calls(case: Case) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """Build the pair and call each side once (this compiles, where there is compiling)."""
    ml_fn, native_fn = case.build()
    ml_fn()
    native_fn()
    return ml_fn, native_fn


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- inputs


def make_inputs(shape: tuple[int, int], seed: int = 0) -> dict[str, np.ndarray]:
    """Logits, integer class labels, and {0, 1} multi-label targets (10 % positive)."""
    rng = np.random.default_rng(seed)
    return {
        "logits": rng.normal(scale=3.0, size=shape).astype(np.float32),
        "labels": rng.integers(0, shape[1], size=shape[0]),
        "multi": (rng.random(shape) < 0.1).astype(np.float32),
    }


# ------------------------------------------------------------------------------ torch


TORCH_NATIVE = {
    "sigmoid focal": "torchvision sigmoid_focal_loss formula in torch, .mean()",
    "cross entropy": "F.cross_entropy",
    "cross entropy ls=0.1": "F.cross_entropy(label_smoothing=0.1)",
    "softmax focal": "log_softmax + gather focal formula, .mean()",
    "poly-1 CE": "F.cross_entropy(reduction='none') + (1 - exp(-ce)), .mean()",
    "binary cross entropy": "F.binary_cross_entropy_with_logits",
}


def torch_losses() -> dict[str, tuple[str, Callable, Callable]]:
    """name -> (target kind, multiloss fn, native fn)."""
    import torch
    import torch.nn.functional as F

    ml = import_multiloss("torch")

    def torchvision_focal(x, y, alpha=0.25, gamma=2.0):
        # torchvision.ops.sigmoid_focal_loss, written out (torchvision is not a dependency)
        p = torch.sigmoid(x)
        ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
        p_t = p * y + (1 - p) * (1 - y)
        loss = ce * ((1 - p_t) ** gamma)
        alpha_t = alpha * y + (1 - alpha) * (1 - y)
        return (alpha_t * loss).mean()

    def softmax_focal(x, labels, gamma=2.0):
        logpt = F.log_softmax(x, dim=-1).gather(1, labels[:, None]).squeeze(1)
        return (-((1 - logpt.exp()) ** gamma) * logpt).mean()

    def poly1(x, labels, epsilon=1.0):
        ce = F.cross_entropy(x, labels, reduction="none")
        return (ce + epsilon * (1 - torch.exp(-ce))).mean()

    return {
        "sigmoid focal": (
            "multi",
            lambda x, y: ml.sigmoid_focal_loss(x, y, alpha=0.25, gamma=2.0),
            torchvision_focal,
        ),
        "cross entropy": (
            "labels",
            lambda x, t: ml.cross_entropy(x, t),
            lambda x, t: F.cross_entropy(x, t),
        ),
        "cross entropy ls=0.1": (
            "labels",
            lambda x, t: ml.cross_entropy(x, t, label_smoothing=0.1),
            lambda x, t: F.cross_entropy(x, t, label_smoothing=0.1),
        ),
        "softmax focal": (
            "labels",
            lambda x, t: ml.softmax_focal_loss(x, t, gamma=2.0),
            softmax_focal,
        ),
        "poly-1 CE": (
            "labels",
            lambda x, t: ml.poly1_cross_entropy(x, t, epsilon=1.0),
            poly1,
        ),
        "binary cross entropy": (
            "multi",
            lambda x, y: ml.binary_cross_entropy(x, y),
            lambda x, y: F.binary_cross_entropy_with_logits(x, y),
        ),
    }


def _torch_tensors(shape: tuple[int, int], kind: str):
    import torch

    data = make_inputs(shape)
    x = torch.from_numpy(data["logits"]).requires_grad_(True)
    target = torch.from_numpy(data["labels"]) if kind == "labels" else torch.from_numpy(data["multi"])
    return x, target


def torch_pair(name: str, shape: tuple[int, int], compiled: bool, backward: bool = True):
    """A ``build`` function for one torch case."""

    def build():
        import torch

        kind, ml_fn, native_fn = torch_losses()[name]
        if compiled:
            ml_fn, native_fn = torch.compile(ml_fn, dynamic=False), torch.compile(native_fn, dynamic=False)
        x, target = _torch_tensors(shape, kind)

        def step(fn):
            if backward:
                return lambda: torch.autograd.grad(fn(x, target), x)[0]
            return lambda: fn(x, target)

        return step(ml_fn), step(native_fn)

    return build


def torch_cases(shapes: dict[str, tuple[int, int]]) -> list[Case]:
    cases = []
    for mode, compiled in (("eager", False), ("compile", True)):
        for name in ("sigmoid focal", "cross entropy", "cross entropy ls=0.1", "softmax focal",
                     "poly-1 CE"):
            shape = shapes["sigmoid"] if name == "sigmoid focal" else shapes["softmax"]
            cases.append(Case("torch", mode, name, shape, TORCH_NATIVE[name],
                              torch_pair(name, shape, compiled),
                              bandwidth=name == "sigmoid focal"))
    for mode, backward in (("tiny fwd+bwd", True), ("tiny fwd", False)):
        for name in ("cross entropy", "binary cross entropy", "softmax focal"):
            cases.append(Case("torch", mode, name, TINY, TORCH_NATIVE[name],
                              torch_pair(name, TINY, compiled=False, backward=backward),
                              torch_threads=TINY_THREADS))
    return cases


# -------------------------------------------------------------------------------- jax


JAX_NATIVE = {
    "sigmoid focal": "optax.losses.sigmoid_focal_loss(alpha=0.25, gamma=2).mean()",
    "cross entropy": "optax.losses.softmax_cross_entropy_with_integer_labels(...).mean()",
    "poly-1 CE": "optax.losses.poly_loss_cross_entropy(x, one_hot(labels), epsilon=1).mean()",
    "softmax focal": "log_softmax + take_along_axis focal formula in jnp, .mean()",
}


def jax_losses() -> dict[str, tuple[str, Callable, Callable]]:
    """name -> (target kind, multiloss fn, native fn)."""
    import jax
    import jax.numpy as jnp
    import optax

    ml = import_multiloss("jax")

    def softmax_focal(x, labels, gamma=2.0):
        logpt = jnp.take_along_axis(jax.nn.log_softmax(x), labels[:, None], axis=1)[:, 0]
        return (-((1 - jnp.exp(logpt)) ** gamma) * logpt).mean()

    def poly1(x, labels):
        # one_hot inside the jitted function: both sides take the same integer labels
        onehot = jax.nn.one_hot(labels, x.shape[-1], dtype=x.dtype)
        return optax.losses.poly_loss_cross_entropy(x, onehot, epsilon=1.0).mean()

    return {
        "sigmoid focal": (
            "multi",
            lambda x, y: ml.sigmoid_focal_loss(x, y, alpha=0.25, gamma=2.0),
            lambda x, y: optax.losses.sigmoid_focal_loss(x, y, alpha=0.25, gamma=2.0).mean(),
        ),
        "cross entropy": (
            "labels",
            lambda x, t: ml.cross_entropy(x, t),
            lambda x, t: optax.losses.softmax_cross_entropy_with_integer_labels(x, t).mean(),
        ),
        "poly-1 CE": ("labels", lambda x, t: ml.poly1_cross_entropy(x, t, epsilon=1.0), poly1),
        "softmax focal": ("labels", lambda x, t: ml.softmax_focal_loss(x, t, gamma=2.0),
                          softmax_focal),
    }


def jax_pair(name: str, shape: tuple[int, int]):
    def build():
        import jax

        kind, ml_fn, native_fn = jax_losses()[name]
        data = make_inputs(shape)
        x = jax.device_put(data["logits"])
        target = jax.device_put(data["labels"].astype(np.int32) if kind == "labels" else data["multi"])

        def step(fn):
            compiled = jax.jit(jax.value_and_grad(fn))
            return lambda: jax.block_until_ready(compiled(x, target))

        return step(ml_fn), step(native_fn)

    return build


def jax_cases(shapes: dict[str, tuple[int, int]]) -> list[Case]:
    cases = []
    for name in ("sigmoid focal", "cross entropy", "poly-1 CE", "softmax focal"):
        shape = shapes["sigmoid"] if name == "sigmoid focal" else shapes["softmax"]
        cases.append(Case("jax", "jit", name, shape, JAX_NATIVE[name], jax_pair(name, shape),
                          bandwidth=name == "sigmoid focal"))
    return cases


# ------------------------------------------------------------------------- tensorflow


TF_NATIVE = {
    "sigmoid focal": "torchvision focal formula in tf ops, reduce_mean",
    "cross entropy": "tf.nn.sparse_softmax_cross_entropy_with_logits, reduce_mean",
}


def tf_losses() -> dict[str, tuple[str, Callable, Callable]]:
    import tensorflow as tf

    ml = import_multiloss("tensorflow")

    def focal(x, y, alpha=0.25, gamma=2.0):
        p = tf.sigmoid(x)
        ce = tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=x)
        p_t = p * y + (1 - p) * (1 - y)
        alpha_t = alpha * y + (1 - alpha) * (1 - y)
        return tf.reduce_mean(alpha_t * ce * (1 - p_t) ** gamma)

    return {
        "sigmoid focal": (
            "multi",
            lambda x, y: ml.sigmoid_focal_loss(x, y, alpha=0.25, gamma=2.0),
            focal,
        ),
        "cross entropy": (
            "labels",
            lambda x, t: ml.cross_entropy(x, t),
            lambda x, t: tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels=t, logits=x)),
        ),
    }


def tf_pair(name: str, shape: tuple[int, int]):
    def build():
        import tensorflow as tf

        kind, ml_fn, native_fn = tf_losses()[name]
        data = make_inputs(shape)
        x = tf.constant(data["logits"])
        target = tf.constant(data["labels"].astype(np.int32) if kind == "labels" else data["multi"])

        def step(fn):
            @tf.function(jit_compile=True)
            def value_and_grad(x, target):
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    loss = fn(x, target)
                return loss, tape.gradient(loss, x)

            return lambda: value_and_grad(x, target)[1].numpy()

        return step(ml_fn), step(native_fn)

    return build


def tf_cases(shapes: dict[str, tuple[int, int]]) -> list[Case]:
    return [
        Case("tensorflow", "xla", name, shapes["sigmoid" if name == "sigmoid focal" else "softmax"],
             TF_NATIVE[name], tf_pair(name, shapes["sigmoid" if name == "sigmoid focal" else "softmax"]),
             bandwidth=name == "sigmoid focal")
        for name in ("sigmoid focal", "cross entropy")
    ]


# -------------------------------------------------------------------- imports, threads


def import_multiloss(framework: str, wait_s: float = 60.0):
    """``multiloss.<framework>``, retried once after ``wait_s`` if the import fails."""
    return _with_retry(f"import multiloss.{framework}",
                       lambda: importlib.import_module(f"multiloss.{framework}"), wait_s)


def missing_packages(framework: str) -> list[str]:
    return [p for p in REQUIRES[framework] if importlib.util.find_spec(p) is None]


def set_threads(frameworks: list[str], threads: int) -> dict[str, str]:
    """Fix thread counts (torch first: it must be imported before TensorFlow)."""
    info = {}
    if not missing_packages("torch"):
        import torch

        torch.set_num_threads(threads)
        info["torch"] = f"{torch.get_num_threads()} intra-op threads"
    if "tensorflow" in frameworks:
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError as exc:  # TF already initialised
            log(f"tensorflow threads not set: {exc}")
        info["tensorflow"] = (f"{tf.config.threading.get_intra_op_parallelism_threads()} intra-op, "
                              f"{tf.config.threading.get_inter_op_parallelism_threads()} inter-op "
                              "threads (0 = one per core)")
    if "jax" in frameworks:
        info["jax"] = f"XLA CPU default thread pool (one per core: {os.cpu_count()})"
    return info


# ------------------------------------------------------------------------- bandwidth


def copy_bandwidth(cfg: Settings) -> float:
    """Bytes per second of ``dst.copy_(src)`` (read + write) on a 64 MiB float32 tensor."""
    import torch

    src = torch.rand(COPY_ELEMENTS)
    dst = torch.empty_like(src)
    (times,) = time_interleaved([lambda: dst.copy_(src)], cfg)
    return 2 * src.numel() * src.element_size() / statistics.median(times)


def bandwidth_rows(rows: list[Row], copy_bps: float) -> list[dict]:
    """Fraction of the copy bandwidth reached by each side of the sigmoid focal cases."""
    out = []
    for row in rows:
        if not row.case.bandwidth or row.error:
            continue
        nbytes = BYTES_PER_ELEMENT * math.prod(row.case.shape)
        out.append({
            "case": f"{row.case.framework} {row.case.mode}",
            "shape": shape_str(row.case.shape),
            "ml_gbs": nbytes / row.ml_s / 1e9,
            "native_gbs": nbytes / row.native_s / 1e9,
            "ml_frac": nbytes / row.ml_s / copy_bps,
            "native_frac": nbytes / row.native_s / copy_bps,
        })
    return out


# ---------------------------------------------------------------------------- machine


def machine_info(threads: int, thread_info: dict[str, str]) -> dict[str, str]:
    """CPU model, cores, threads, library versions, multiloss commit."""
    from importlib.metadata import PackageNotFoundError, version

    model = platform.processor() or platform.machine()
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
        model = fields.get("Model name", model).strip()
        if "Hypervisor vendor" in fields:
            model += f" (virtual machine, {fields['Hypervisor vendor'].strip()})"
    except (OSError, subprocess.SubprocessError):
        pass
    versions = []
    for pkg in ("numpy", "keras", "torch", "jax", "jaxlib", "optax", "tensorflow", "tensorflow-cpu"):
        try:
            versions.append(f"{pkg} {version(pkg)}")
        except PackageNotFoundError:
            pass
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {
        "cpu": model,
        "cores": str(os.cpu_count()),
        "threads": f"{threads} ({'; '.join(f'{k}: {v}' for k, v in thread_info.items())})",
        "platform": f"{platform.platform()}, Python {platform.python_version()}",
        "versions": ", ".join(versions),
        "multiloss": f"{importlib.import_module('multiloss').__version__}"
                     + (f" (git {commit})" if commit else ""),
    }


# ----------------------------------------------------------------------------- output


COLUMNS = ("framework", "mode", "case", "shape", "multiloss µs", "native µs", "ratio", "ratio IQR")


def fmt_us(seconds: float) -> str:
    us = seconds * 1e6
    if math.isnan(us):
        return "-"
    return f"{us:,.0f}" if us >= 100 else f"{us:.1f}" if us >= 10 else f"{us:.2f}"


def table_cells(row: Row) -> list[str]:
    c = row.case
    if row.error:
        return [c.framework, c.mode, c.name, shape_str(c.shape), "-", "-", "error", row.error[:60]]
    iqr = f"{row.q1:.2f}–{row.q3:.2f}" if not math.isnan(row.q1) else "-"
    return [c.framework, c.mode, c.name, shape_str(c.shape), fmt_us(row.ml_s),
            fmt_us(row.native_s), f"{row.ratio:.2f}", iqr]


def print_table(rows: list[Row]) -> None:
    cells = [list(COLUMNS)] + [table_cells(r) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(COLUMNS))]
    right = {4, 5, 6, 7}
    for n, r in enumerate(cells):
        print("  ".join(v.rjust(w) if i in right else v.ljust(w)
                        for i, (v, w) in enumerate(zip(r, widths, strict=True))))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def print_bandwidth(bw: list[dict], copy_bps: float) -> None:
    print(f"\nsigmoid focal memory traffic: {BYTES_PER_ELEMENT} bytes/element (read logits, "
          f"read targets, write grad; float32); copy bandwidth {copy_bps / 1e9:.1f} GB/s")
    for b in bw:
        print(f"  {b['case']:<20} {b['shape']:>9}  multiloss {b['ml_gbs']:5.1f} GB/s "
              f"({b['ml_frac']:4.0%} of copy)  native {b['native_gbs']:5.1f} GB/s "
              f"({b['native_frac']:4.0%} of copy)")


def markdown_table(rows: list[Row]) -> str:
    head = ["framework", "mode", "case", "shape", "multiloss µs", "native µs", "ratio",
            "ratio IQR", "native code"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 4 + "---:|" * 4 + "---|"]
    for row in rows:
        cells = table_cells(row) + [row.case.native]
        lines.append("| " + " | ".join(v.replace("|", "\\|") for v in cells) + " |")
    return "\n".join(lines)


HALO = 'stroke="white" stroke-width="3" paint-order="stroke"'  # text readable over lines


def _bar_color(ratio: float) -> str:
    return "#2e7d32" if ratio <= 1.0 else "#f9a825" if ratio <= 1.10 else "#c62828"


@dataclass(frozen=True)
class _Layout:
    """Geometry of the SVG chart: one horizontal bar per row."""

    n: int
    x_max: float
    label_w: int = 330
    plot_w: int = 520
    bar_h: int = 16
    gap: int = 6
    top: int = 62

    @property
    def bottom(self) -> int:
        return self.top + self.n * (self.bar_h + self.gap)

    @property
    def size(self) -> tuple[int, int]:
        return self.label_w + self.plot_w + 70, self.bottom + 40

    def x(self, ratio: float) -> float:
        return self.label_w + self.plot_w * min(ratio, self.x_max) / self.x_max

    def y(self, i: int) -> int:
        return self.top + i * (self.bar_h + self.gap)


def svg_chart(rows: list[Row], subtitle: str) -> str:
    """A horizontal bar chart of the ratios, hand-written SVG (no plotting library):
    grid and axis, bars, the lines at 1.0 and 1.10, then the value labels on top."""
    rows = [r for r in rows if not r.error]
    top_ratio = max([r.ratio for r in rows] + [1.2])
    x_max = math.ceil(min(top_ratio, 4.0) * 1.05 / 0.25) * 0.25  # longer bars are cut off
    lay = _Layout(len(rows), x_max)
    width, height = lay.size
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        '<text x="10" y="20" font-size="15" font-weight="bold">multiloss time / native time '
        '(forward + backward unless marked; lower is better)</text>',
        f'<text x="10" y="38" fill="#555">{_esc(subtitle)}</text>',
        *_svg_grid(lay),
        *_svg_bars(rows, lay),
        *_svg_reference_lines(lay),
        *_svg_values(rows, lay),
        f'<text x="10" y="{lay.bottom + 32}" fill="#555">green: multiloss as fast or faster; '
        'amber: up to 10 % slower; red: more than 10 % slower. Bars cut at '
        f'{x_max:g} are marked ›.</text>',
        "</svg>",
    ]
    return "\n".join(out) + "\n"


def _svg_grid(lay: _Layout) -> list[str]:
    out = []
    step = 0.25 if lay.x_max <= 2 else 0.5
    for k in range(int(lay.x_max / step + 1e-9) + 1):
        x = lay.x(k * step)
        out.append(f'<line x1="{x:.1f}" y1="{lay.top - 6}" x2="{x:.1f}" y2="{lay.bottom}" '
                   'stroke="#eee"/>')
        out.append(f'<text x="{x:.1f}" y="{lay.bottom + 14}" text-anchor="middle" '
                   f'fill="#555">{k * step:g}</text>')
    return out


def _svg_bars(rows: list[Row], lay: _Layout) -> list[str]:
    out = []
    for i, row in enumerate(rows):
        c, y = row.case, lay.y(i)
        label = f"{c.framework} {c.mode} · {c.name} {shape_str(c.shape)}"
        out.append(f'<text x="{lay.label_w - 8}" y="{y + lay.bar_h - 4}" text-anchor="end">'
                   f'{_esc(label)}</text>')
        out.append(f'<rect x="{lay.label_w}" y="{y}" width="{lay.x(row.ratio) - lay.label_w:.1f}" '
                   f'height="{lay.bar_h}" fill="{_bar_color(row.ratio)}"/>')
    return out


def _svg_reference_lines(lay: _Layout) -> list[str]:
    out = []
    for ratio, style, text, anchor, dx in (
        (1.0, 'stroke="#000"', "1.0 (parity)", "end", -3),
        (1.10, 'stroke="#c62828" stroke-dasharray="5,3"', "1.10", "start", 3),
    ):
        x = lay.x(ratio)
        out.append(f'<line x1="{x:.1f}" y1="{lay.top - 10}" x2="{x:.1f}" y2="{lay.bottom}" '
                   f'{style} stroke-width="1.5"/>')
        out.append(f'<text x="{x + dx:.1f}" y="{lay.top - 14}" text-anchor="{anchor}" '
                   f'font-size="11">{text}</text>')
    return out


def _svg_values(rows: list[Row], lay: _Layout) -> list[str]:
    out = []
    for i, row in enumerate(rows):
        mark = " ›" if row.ratio > lay.x_max else ""
        out.append(f'<text x="{lay.x(row.ratio) + 4:.1f}" y="{lay.y(i) + lay.bar_h - 4}" '
                   f'{HALO}>{row.ratio:.2f}{mark}</text>')
    return out


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def markdown_doc(rows: list[Row], bw: list[dict], copy_bps: float | None,
                 machine: dict[str, str], argv: list[str], elapsed_s: float) -> str:
    """docs/benchmarks.md for this run."""
    shapes = {kind: next((shape_str(r.case.shape) for r in rows if r.case.name == name
                          and r.case.shape != TINY), "-")
              for kind, name in (("softmax", "cross entropy"), ("sigmoid", "sigmoid focal"))}
    machine_lines = "\n".join(f"- **{k}**: {v}" for k, v in machine.items())
    bw_md = ""
    if bw and copy_bps:
        bw_md = "\n".join([
            "## Sigmoid focal: fraction of memory bandwidth",
            "",
            f"Forward + backward must at least read the logits and the targets and write the "
            f"gradient: **{BYTES_PER_ELEMENT} bytes per element** (float32). Achieved rate = "
            f"{BYTES_PER_ELEMENT} × elements / time per call; the reference is the machine's "
            f"copy bandwidth, `dst.copy_(src)` on a 64 MiB float32 tensor in torch "
            f"(read + write): **{copy_bps / 1e9:.1f} GB/s** in this run.",
            "",
            "| framework, mode | shape | multiloss GB/s | of copy | native GB/s | of copy |",
            "|---|---|---:|---:|---:|---:|",
            *[f"| {b['case']} | {b['shape']} | {b['ml_gbs']:.1f} | {b['ml_frac']:.0%} | "
              f"{b['native_gbs']:.1f} | {b['native_frac']:.0%} |" for b in bw],
            "",
        ])
    doc = __doc__.split("What is timed.", 1)[1]
    method = "What is timed." + doc.split("Memory bandwidth (sigmoid focal).")[0]
    return f"""<!-- Written by benchmarks/bench.py from one run; rerun it to refresh. -->
# Benchmarks

How fast multiloss is against the native code of each framework, forward + backward
(the loss value and its gradient w.r.t. the logits). Ratio = multiloss time / native
time: below 1 multiloss is faster, the red dashed line marks 10 % slower.

![ratio of multiloss to native time, one bar per case](benchmarks.svg)

## How to run

```
python benchmarks/bench.py                  # full run (~4 min on 2 cores), rewrites this page
python benchmarks/bench.py --quick          # fewer repeats, for development; no docs
python benchmarks/bench.py --only focal,jax # cases whose id contains "focal" or "jax"
python benchmarks/bench.py --frameworks torch,jax --threads 2 --no-docs
```

A case id is `framework/mode/case/shape`, e.g. `torch/compile/sigmoid focal/65536x80`.
Frameworks that are not installed are skipped with a message. `--write-docs` writes
this page from a partial or `--quick` run too; `--no-docs` never writes it. On a
machine busy with other work, `--threads 1` gives steadier numbers: with 2 threads on
2 shared cores, torch's workers wait for each other whenever one is descheduled.

This page: `{" ".join(["python benchmarks/bench.py", *argv])}`, {elapsed_s / 60:.1f} minutes.

## Machine

{machine_lines}

On a machine shared with other work (this one was), the interleaved, paired rounds
cancel most of the interference, but differences of a few percent are noise.

## Results

{markdown_table(rows)}

Shapes are batch x classes, float32 logits: the softmax-family cases (cross entropy,
label smoothing, softmax focal, poly-1) at {shapes["softmax"]}, sigmoid focal at
{shapes["sigmoid"]}, the tiny cases at {shape_str(TINY)}. Labels are integer class indices on
both sides (optax's poly loss gets `one_hot(labels)` computed inside the jitted
function); sigmoid focal targets are {{0, 1}} with 10 % ones; alpha 0.25, gamma 2,
label smoothing 0.1, poly epsilon 1, mean reduction. "ratio IQR" is the interquartile
range of the per-round ratios.

{bw_md}
## Method

{method.strip().replace("``", "`")}
"""


def write_docs(rows: list[Row], bw: list[dict], copy_bps: float | None,
               machine: dict[str, str], argv: list[str], elapsed_s: float) -> None:
    docs = ROOT / "docs"
    subtitle = (f"{machine['cpu']}, {machine['cores']} cores, {machine['threads'].split(' (')[0]} "
                f"threads; multiloss {machine['multiloss']}")
    (docs / "benchmarks.svg").write_text(svg_chart(rows, subtitle), encoding="utf-8")
    (docs / "benchmarks.md").write_text(
        markdown_doc(rows, bw, copy_bps, machine, argv, elapsed_s), encoding="utf-8")
    log(f"wrote {docs / 'benchmarks.md'} and {docs / 'benchmarks.svg'}")


# ------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS),
                        help="comma-separated subset of torch,jax,tensorflow")
    parser.add_argument("--only", default="",
                        help="comma-separated substrings; run the cases whose id "
                             "(framework/mode/case/shape) contains one of them")
    parser.add_argument("--quick", action="store_true", help="few repeats, for development")
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1),
                        help="torch and TensorFlow intra-op threads (default 2)")
    parser.add_argument("--softmax-shape", default="8192x1000",
                        help="logits shape of the softmax-family cases")
    parser.add_argument("--sigmoid-shape", default="65536x80",
                        help="logits shape of the sigmoid focal cases")
    parser.add_argument("--write-docs", action="store_true",
                        help="write docs/benchmarks.md and .svg (default for a full run only)")
    parser.add_argument("--no-docs", action="store_true", help="never write the docs")
    return parser.parse_args(argv)


def select_cases(frameworks: list[str], shapes: dict, only: str) -> list[Case]:
    builders = {"torch": torch_cases, "jax": jax_cases, "tensorflow": tf_cases}
    cases = [c for fw in frameworks for c in builders[fw](shapes)]
    terms = [t.strip().lower() for t in only.split(",") if t.strip()]
    return [c for c in cases if not terms or any(t in c.ident.lower() for t in terms)]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    cfg = QUICK if args.quick else FULL
    started = time.perf_counter()
    requested = [f.strip() for f in args.frameworks.split(",") if f.strip()]
    unknown = [f for f in requested if f not in FRAMEWORKS]
    if unknown:
        raise SystemExit(f"unknown framework(s) {unknown}; choose from {FRAMEWORKS}")
    frameworks = []
    for fw in requested:
        missing = missing_packages(fw)
        if missing:
            print(f"skipping {fw}: {', '.join(missing)} not installed")
        else:
            frameworks.append(fw)
    shapes = {"softmax": tuple(int(s) for s in args.softmax_shape.split("x")),
              "sigmoid": tuple(int(s) for s in args.sigmoid_shape.split("x"))}
    thread_info = set_threads(frameworks, args.threads)
    machine = machine_info(args.threads, thread_info)
    print(f"machine: {machine['cpu']}, {machine['cores']} cores; threads: {machine['threads']}")
    print(f"versions: {machine['versions']}; multiloss {machine['multiloss']}")
    print(f"settings: {'quick' if args.quick else 'full'} ({cfg})\n")

    cases = select_cases(frameworks, shapes, args.only)
    rows = [run_case(case, cfg) for case in cases]

    copy_bps = None
    bw: list[dict] = []
    if any(r.case.bandwidth and not r.error for r in rows) and not missing_packages("torch"):
        copy_bps = copy_bandwidth(cfg)
        bw = bandwidth_rows(rows, copy_bps)

    elapsed = time.perf_counter() - started
    print()
    print_table(rows)
    if bw and copy_bps:
        print_bandwidth(bw, copy_bps)
    print(f"\ntotal {elapsed:.0f} s ({elapsed / 60:.1f} min)")

    full_run = not args.quick and not args.only and requested == list(FRAMEWORKS)
    if not args.no_docs and (args.write_docs or full_run):
        write_docs(rows, bw, copy_bps, machine, argv, elapsed)
    return 0


if __name__ == "__main__":
    sys.exit(main())

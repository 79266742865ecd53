"""Large vocabularies: time and peak memory of a loss over ``hidden @ weight.T``, fwd + bwd.

    python benchmarks/large_vocab.py                  # every case; writes docs/large_vocab.md + .svg
    python benchmarks/large_vocab.py --quick --sizes 4096x256x65536 --frameworks torch --no-docs
    python benchmarks/large_vocab.py --sizes 4096x256x65536 --update   # rerun one size in the docs
    python benchmarks/large_vocab.py --what memory                     # peak memory only

Each call computes the loss of hidden states ``h [N, D]`` under an output layer
``W [V, D]`` (no bias) with integer labels ``y [N]`` and its gradients with respect to
``h`` and ``W``, the way a training step does. The ways to do it:

* **naive**: the full logits, then the framework's own cross entropy:
  ``F.cross_entropy(h @ W.T, y)``, ``optax.losses.softmax_cross_entropy_with_integer_labels``,
  ``tf.nn.sparse_softmax_cross_entropy_with_logits`` (the ratios' reference);
* **multiloss**: ``multiloss.<framework>.linear_cross_entropy(h, W, y)`` (default
  ``chunk_size``; exact: the same numbers as the naive path);
* **F.linear_cross_entropy** (torch ≥ 2.13): ``options=None`` (its reference path:
  the full logits) and ``options=LinearCrossEntropyOptions()`` (its chunked path);
* **sampled softmax** (an estimate, not the same loss: for scale): multiloss'
  ``sampled_softmax_loss`` with 4096 log-uniform candidates, and TensorFlow's
  ``tf.nn.sampled_softmax_loss`` with the same.

How it runs. Every (framework, N, D, V) runs in two fresh subprocesses.

* *Time*: every way is called once to warm up (and compile: ``torch`` eager,
  ``jax.jit(jax.value_and_grad)``, ``tf.function(jit_compile=True)`` around a
  ``GradientTape``), then the ways are called in rounds, one call each per round, the
  order reversed every other round, for at least ``--rounds`` rounds and 20 s. A way's
  time is the median of its calls; its ratio is the median over rounds of its time
  divided by the naive time of the same round (the paired rounds cancel slow drifts of
  a shared machine); the interquartile range of those ratios is the spread.
* *Peak memory*: the process runs with glibc's ``mmap`` threshold fixed at 64 KiB
  (``mallopt(M_MMAP_THRESHOLD)``), so a freed buffer leaves the process at once and the
  resident set follows what is live. After a warm-up call of a way, the kernel's record
  of the peak resident set is reset (``/proc/self/clear_refs``), one call runs, and the
  peak is the new high-water mark ``VmHWM`` minus the resident set before the call:
  what that training step needed on top of the inputs (its outputs, the gradients
  ``[N, D]`` and ``[V, D]``, included). That setting makes allocation slower (every
  large buffer is fresh pages), so no time is taken in this process. TensorFlow keeps
  the buffers it frees (the resident set misses its peak), so it runs with its BFC CPU
  allocator (``TF_CPU_ALLOCATOR_USE_BFC=true``) and the peak is the allocator's own
  (``tf.config.experimental.get_memory_info("CPU:0")["peak"]`` after
  ``reset_memory_stats``, minus the bytes in use before the call). JAX's CPU client
  keeps buffers too; its peak is what XLA's buffer assignment plans for the compiled
  step (``jax.jit(f).lower(...).compile().memory_analysis()``: temporaries + outputs).

Threads: torch and TensorFlow run with ``--threads`` intra-op threads (default 2),
JAX with XLA's default pool.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FRAMEWORKS = ("torch", "jax", "tensorflow")
N_ROWS = 4096
SIZES = tuple((N_ROWS, d, v) for d in (256, 1024) for v in (32_768, 131_072))
#: the size the acceptance of linear_cross_entropy names (issue 9)
ACCEPTANCE = (4096, 256, 65_536)
NUM_SAMPLED = 4096
M_MMAP_THRESHOLD = -3  # glibc mallopt parameter


# ----------------------------------------------------------------------------- inputs


def make_inputs(n: int, d: int, v: int) -> dict[str, Any]:
    import numpy as np

    rng = np.random.default_rng(0)
    return {
        "hidden": rng.standard_normal((n, d), dtype=np.float32),
        "weight": (rng.standard_normal((v, d), dtype=np.float32) / np.sqrt(d)).astype(np.float32),
        "labels": rng.integers(0, v, size=n).astype(np.int64),
    }


def torch_ways(n: int, d: int, v: int) -> dict[str, Callable[[], Any]]:
    import torch
    import torch.nn.functional as F

    import multiloss.torch as mt

    arrays = make_inputs(n, d, v)
    h = torch.from_numpy(arrays["hidden"]).requires_grad_(True)
    w = torch.from_numpy(arrays["weight"]).requires_grad_(True)
    y = torch.from_numpy(arrays["labels"])
    zeros = torch.zeros(v)

    def step(loss_fn: Callable[[], Any]) -> Callable[[], Any]:
        return lambda: torch.autograd.grad(loss_fn(), (h, w))

    ways = {
        "naive": step(lambda: F.cross_entropy(h @ w.T, y)),
        "multiloss": step(lambda: mt.linear_cross_entropy(h, w, y)),
    }
    if hasattr(F, "linear_cross_entropy"):
        ways["F.linear_cross_entropy"] = step(lambda: F.linear_cross_entropy(h, w, y))
        options = torch.nn.LinearCrossEntropyOptions()
        ways["F.linear_cross_entropy chunked"] = step(
            lambda: F.linear_cross_entropy(h, w, y, options=options))
    ways["multiloss sampled"] = step(lambda: mt.sampled_softmax_loss(
        w, zeros, y[:, None], h, NUM_SAMPLED, v, seed=0).mean())
    return ways


def jax_ways(n: int, d: int, v: int) -> dict[str, Callable[[], Any]]:
    import jax
    import jax.numpy as jnp
    import optax

    import multiloss.jax as mj

    arrays = make_inputs(n, d, v)
    h, w = jnp.asarray(arrays["hidden"]), jnp.asarray(arrays["weight"])
    y = jnp.asarray(arrays["labels"].astype("int32"))
    zeros = jnp.zeros(v)

    def step(loss_fn: Callable[[Any, Any], Any]) -> Callable[[], Any]:
        compiled = jax.jit(jax.value_and_grad(loss_fn, argnums=(0, 1)))

        def call() -> Any:
            return jax.block_until_ready(compiled(h, w))

        def memory() -> int:  # XLA's buffer assignment: temporaries + outputs
            analysis = compiled.lower(h, w).compile().memory_analysis()
            return analysis.temp_size_in_bytes + analysis.output_size_in_bytes

        call.memory = memory  # type: ignore[attr-defined]
        return call

    return {
        "naive": step(lambda h, w: optax.losses.softmax_cross_entropy_with_integer_labels(
            h @ w.T, y).mean()),
        "multiloss": step(lambda h, w: mj.linear_cross_entropy(h, w, y)),
        "multiloss sampled": step(lambda h, w: mj.sampled_softmax_loss(
            w, zeros, y[:, None], h, NUM_SAMPLED, v, seed=0).mean()),
    }


def tf_ways(n: int, d: int, v: int) -> dict[str, Callable[[], Any]]:
    import tensorflow as tf

    import multiloss.tensorflow as mtf

    arrays = make_inputs(n, d, v)
    h, w = tf.constant(arrays["hidden"]), tf.constant(arrays["weight"])
    y = tf.constant(arrays["labels"])
    zeros = tf.zeros([v])

    def step(loss_fn: Callable[[Any, Any], Any], jit: bool = True) -> Callable[[], Any]:
        @tf.function(jit_compile=jit)
        def call(h, w):
            with tf.GradientTape() as tape:
                tape.watch([h, w])
                loss = loss_fn(h, w)
            return loss, tape.gradient(loss, [h, w])

        def wait() -> None:
            loss, grads = call(h, w)
            # tf.nn.sampled_softmax_loss' weight gradient stays sparse (IndexedSlices)
            for t in [loss, *grads]:
                (t.values if isinstance(t, tf.IndexedSlices) else t).numpy()

        return wait

    return {
        "naive": step(lambda h, w: tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            y, tf.matmul(h, w, transpose_b=True)))),
        "multiloss": step(lambda h, w: mtf.linear_cross_entropy(h, w, y)),
        "multiloss sampled": step(lambda h, w: tf.reduce_mean(mtf.sampled_softmax_loss(
            w, zeros, y[:, None], h, NUM_SAMPLED, v, seed=0))),
        # TensorFlow's sampler draws with a stateful op XLA cannot compile
        "tf.nn.sampled_softmax_loss": step(lambda h, w: tf.reduce_mean(tf.nn.sampled_softmax_loss(
            w, zeros, y[:, None], h, NUM_SAMPLED, v, seed=0)), jit=False),
    }


WAYS = {"torch": torch_ways, "jax": jax_ways, "tensorflow": tf_ways}


def set_threads(framework: str, threads: int) -> None:
    import torch  # torch before TensorFlow in one process, and its threads in any case

    torch.set_num_threads(threads)
    if framework == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


# ----------------------------------------------------------------------------- workers


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def measure_memory(ways: dict[str, Callable[[], Any]], framework: str) -> dict[str, float]:
    """Bytes each way needs on top of what is allocated before its call."""
    if framework == "tensorflow":
        import tensorflow as tf

        def reset() -> int:
            tf.config.experimental.reset_memory_stats("CPU:0")
            return tf.config.experimental.get_memory_info("CPU:0")["current"]

        def peak() -> int:
            return tf.config.experimental.get_memory_info("CPU:0")["peak"]
    else:

        def reset() -> int:
            with open("/proc/self/clear_refs", "w") as refs:
                refs.write("5")  # VmHWM := VmRSS
            return _status_bytes("VmRSS")

        def peak() -> int:
            return _status_bytes("VmHWM")

    if framework == "jax":
        return {name: float(fn.memory()) for name, fn in ways.items()}
    peaks = {}
    for name, fn in ways.items():
        fn()  # warm-up (and compilation)
        before = reset()
        fn()
        peaks[name] = float(peak() - before)
    return peaks


def measure_time(ways: dict[str, Callable[[], Any]], rounds: int, min_s: float) -> dict[str, list[float]]:
    """Seconds per call of each way, one value per round, the order reversed every
    other round."""
    import gc

    names = list(ways)
    for name in names:
        ways[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    start, done = time.perf_counter(), 0
    while done < rounds or time.perf_counter() - start < min_s:
        for name in names if done % 2 == 0 else reversed(names):
            gc.collect()
            t0 = time.perf_counter()
            ways[name]()
            times[name].append(time.perf_counter() - t0)
        done += 1
    return times


def worker(args: argparse.Namespace) -> None:
    n, d, v = args.size
    if args.what == "memory":
        ctypes.CDLL("libc.so.6").mallopt(M_MMAP_THRESHOLD, 64 * 1024)
        # TensorFlow keeps freed buffers; its BFC allocator counts what is live
        os.environ["TF_CPU_ALLOCATOR_USE_BFC"] = "true"
    set_threads(args.framework, args.threads)
    ways = WAYS[args.framework](n, d, v)
    if args.what == "memory":
        result: dict[str, Any] = measure_memory(ways, args.framework)
    else:
        result = measure_time(ways, args.rounds, args.min_s)
    print("RESULT " + json.dumps(result), flush=True)


def run_worker(framework: str, size: tuple[int, int, int], what: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--worker", framework, what, "x".join(map(str, size)),
           "--threads", str(args.threads), "--rounds", str(args.rounds), "--min-s", str(args.min_s)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    raise RuntimeError(f"{framework} {what} {size} failed: " + " | ".join(tail))


# ----------------------------------------------------------------------------- results


TIME_FIELDS = ("time_s", "ratio", "q1", "q3", "calls")
MEMORY_FIELDS = ("peak", "peak_ratio")


def summarize(framework: str, size: tuple[int, int, int], times: dict, peaks: dict) -> list[dict]:
    """One row per way; the time fields are NaN without ``times``, the memory fields
    without ``peaks``."""
    rows = []
    for name in times or peaks:
        row = {"framework": framework, "size": size, "way": name}
        row.update(dict.fromkeys(TIME_FIELDS + MEMORY_FIELDS, math.nan))
        if times:
            own = times[name]
            ratios = sorted(a / b for a, b in zip(own, times["naive"], strict=True))
            q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
            row.update(time_s=statistics.median(own), ratio=statistics.median(ratios),
                       q1=q[0], q3=q[2], calls=len(own))
        if peaks:
            row.update(peak=peaks[name], peak_ratio=peaks[name] / peaks["naive"])
        rows.append(row)
    return rows


def merge(old: list[dict], new: list[dict]) -> list[dict]:
    """``old`` rows with the fields ``new`` measured replaced (and ``new``'s other rows)."""
    key = lambda r: (r["framework"], tuple(r["size"]), r["way"])  # noqa: E731
    merged = {key(r): dict(r, size=tuple(r["size"])) for r in old}
    for r in new:
        row = merged.setdefault(key(r), dict(r))
        row.update({k: v for k, v in r.items() if not (isinstance(v, float) and math.isnan(v))})
    return sorted(merged.values(), key=lambda r: (FRAMEWORKS.index(r["framework"]),
                                                  r["size"] != ACCEPTANCE, r["size"]))


def size_str(size: tuple[int, ...]) -> str:
    n, d, v = size
    return f"N={n} D={d} V={v}"


def fmt_bytes(n: float) -> str:
    if math.isnan(n):
        return "–"
    return f"{n / 2**20:,.0f} MiB" if n < 10 * 2**30 else f"{n / 2**30:,.1f} GiB"


def table(rows: list[dict]) -> str:
    out = ["| framework | size | way | time (s) | time / naive (IQR) | peak memory | memory / naive |",
           "|---|---|---|---:|---:|---:|---:|"]
    for r in rows:
        timed = not math.isnan(r["time_s"])
        time_cells = (f"{r['time_s']:.3f} | {r['ratio']:.2f} ({r['q1']:.2f}–{r['q3']:.2f})"
                      if timed else "– | not timed")
        peak_ratio = "–" if math.isnan(r["peak_ratio"]) else f"{r['peak_ratio']:.3f}"
        out.append(f"| {r['framework']} | {size_str(r['size'])} | {r['way']} | {time_cells} | "
                   f"{fmt_bytes(r['peak'])} | {peak_ratio} |")
    return "\n".join(out)


def svg_chart(rows: list[dict]) -> str:
    """Peak memory (bars, log scale) of naive vs multiloss per framework and size, with
    the time ratio printed on each multiloss bar."""
    groups = [(f, s) for f in FRAMEWORKS for s in dict.fromkeys(r["size"] for r in rows)
              if any(r["framework"] == f and r["size"] == s for r in rows)]
    bar_h, gap, left, width = 14, 10, 250, 520
    height = 40 + len(groups) * (2 * bar_h + gap) + 30
    peaks = [r["peak"] for r in rows if r["way"] in ("naive", "multiloss") and r["peak"] > 0]
    lo, hi = math.log10(min(peaks) / 2), math.log10(max(peaks) * 1.5)

    def x_of(value: float) -> float:
        return left + width * (math.log10(max(value, 1.0)) - lo) / (hi - lo)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 120}" '
             f'height="{height}" font-family="sans-serif" font-size="11">',
             '<text x="10" y="18" font-size="13">Peak memory of one training step (log scale); '
             'multiloss bars show time / naive</text>']
    for k in range(math.ceil(lo), math.floor(hi) + 1):
        x = x_of(10 ** k)
        parts.append(f'<line x1="{x:.1f}" y1="28" x2="{x:.1f}" y2="{height - 24}" stroke="#ddd"/>')
        parts.append(f'<text x="{x:.1f}" y="{height - 10}" text-anchor="middle">'
                     f'{fmt_bytes(10 ** k)}</text>')
    y = 34
    for framework, size in groups:
        by_way = {r["way"]: r for r in rows if r["framework"] == framework and r["size"] == size}
        parts.append(f'<text x="10" y="{y + bar_h + 4}">{framework} {size_str(size)}</text>')
        for way, color in (("naive", "#999"), ("multiloss", "#2a7")):
            r = by_way.get(way)
            if r is None:
                continue
            x = x_of(r["peak"])
            parts.append(f'<rect x="{left}" y="{y}" width="{x - left:.1f}" height="{bar_h - 2}" '
                         f'fill="{color}"/>')
            label = fmt_bytes(r["peak"])
            if way != "naive" and not math.isnan(r["ratio"]):
                label += f", {r['ratio']:.2f}× time"
            parts.append(f'<text x="{x + 4:.1f}" y="{y + bar_h - 4}">{way}: {label}</text>')
            y += bar_h
        y += gap
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def markdown(rows: list[dict], machine: str, command: str) -> str:
    acceptance = [r for r in rows if r["size"] == ACCEPTANCE and r["way"] == "multiloss"]
    lines = [
        "# Large vocabularies: `linear_cross_entropy` against the full logits",
        "",
        "Generated by `python benchmarks/large_vocab.py` (how it measures: the docstring of "
        "that script). One training step: the loss of `hidden @ weight.T` and its gradients "
        "with respect to `hidden [N, D]` and `weight [V, D]`, float32, CPU. *Peak memory* is "
        "what the step needs on top of its inputs (outputs and gradients included); *time / "
        "naive* is the median of paired per-round ratios against the framework's own cross "
        "entropy of the full logits. `multiloss` is exact (the naive numbers to float32 "
        "rounding); the sampled softmax rows estimate a different loss and are there for scale.",
        "",
        f"Machine: {machine}. Last command: `{command}` (earlier runs merged with "
        "`--update`; `not timed`: that size's time pass has not been run).",
        "",
        "![peak memory](large_vocab.svg)",
        "",
    ]
    if acceptance:
        lines += ["## The acceptance size, N=4096, D=256, V=65536", ""]
        for r in acceptance:
            lines.append(f"- {r['framework']}: peak memory {r['peak_ratio']:.3f} of naive "
                         f"({fmt_bytes(r['peak'])}), time {r['ratio']:.2f}× naive.")
        lines.append("")
    lines += ["## All results", "", table(rows), ""]
    return "\n".join(lines)


def machine() -> str:
    import platform
    from importlib.metadata import PackageNotFoundError, version

    model = platform.machine()
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
        model = fields.get("Model name", model).strip()
    except (OSError, subprocess.SubprocessError):
        pass
    versions = []
    for pkg in ("torch", "jax", "tensorflow-cpu", "tensorflow"):
        try:
            versions.append(f"{pkg} {version(pkg)}")
        except PackageNotFoundError:
            pass
    return f"{model}, {os.cpu_count()} cores, " + ", ".join(versions)


# -------------------------------------------------------------------------------- main


def parse_size(text: str) -> tuple[int, int, int]:
    n, d, v = (int(p) for p in text.lower().split("x"))
    return n, d, v


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    p.add_argument("--sizes", default=",".join("x".join(map(str, s)) for s in (ACCEPTANCE,) + SIZES),
                   help="NxDxV,... (default: the acceptance size and N=4096, D∈{256,1024}, "
                        "V∈{32768,131072})")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=5, help="at least this many timed rounds")
    p.add_argument("--min-s", type=float, default=20.0, help="... and this many seconds")
    p.add_argument("--quick", action="store_true", help="2 rounds, 0 s minimum")
    p.add_argument("--no-docs", action="store_true", help="print only")
    p.add_argument("--update", action="store_true",
                   help="keep the other results of docs/large_vocab.json, replace the ones rerun")
    p.add_argument("--render", action="store_true",
                   help="only rewrite docs/large_vocab.md and .svg from docs/large_vocab.json")
    p.add_argument("--what", choices=("both", "time", "memory"), default="both",
                   help="measure time, peak memory or both (memory does not mind a busy machine)")
    p.add_argument("--worker", nargs=3, metavar=("FRAMEWORK", "WHAT", "SIZE"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.rounds, args.min_s = 2, 0.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        args.framework, args.what, size = args.worker
        args.size = parse_size(size)
        worker(args)
        return 0
    saved = ROOT / "docs" / "large_vocab.json"
    if args.render:
        rows = merge(json.loads(saved.read_text()), [])
        page = ROOT / "docs" / "large_vocab.md"
        found = re.search(r"ommand: `([^`]*)`", page.read_text()) if page.exists() else None
        page.write_text(markdown(rows, machine(), found.group(1) if found else "–"))
        (ROOT / "docs" / "large_vocab.svg").write_text(svg_chart(rows))
        return 0
    rows: list[dict] = []
    for framework in args.frameworks.split(","):
        for size in (parse_size(s) for s in args.sizes.split(",")):
            t0 = time.perf_counter()
            try:
                peaks = run_worker(framework, size, "memory", args) if args.what != "time" else {}
                times = run_worker(framework, size, "time", args) if args.what != "memory" else {}
            except RuntimeError as exc:
                print(exc, file=sys.stderr, flush=True)
                continue
            new = summarize(framework, size, times, peaks)
            rows += new
            print(f"\n{framework} {size_str(size)} ({time.perf_counter() - t0:.0f} s)")
            print(table(new), flush=True)
    if rows and not args.no_docs:
        command = "python benchmarks/large_vocab.py " + " ".join(argv if argv is not None else sys.argv[1:])
        if args.update and saved.exists():
            rows = merge(json.loads(saved.read_text()), rows)
        saved.write_text(json.dumps(rows, indent=1) + "\n")
        (ROOT / "docs" / "large_vocab.md").write_text(markdown(rows, machine(), command.strip()))
        (ROOT / "docs" / "large_vocab.svg").write_text(svg_chart(rows))
        print("\nwrote docs/large_vocab.md and docs/large_vocab.svg")
    return 0


if __name__ == "__main__":
    sys.exit(main())

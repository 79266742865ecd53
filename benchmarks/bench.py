"""Forward + backward timing of multiloss against native peer code, in one run.

    python benchmarks/bench.py                 # every framework, small and large inputs
    python benchmarks/bench.py --frameworks torch --sizes 65536x80

Prints, per loss and input size, the median time of multiloss and of the native
implementation (torch.nn.functional / the torchvision formula in plain torch,
optax.losses, tf.nn) and their ratio (multiloss / native; < 1 means faster). Both
sides compute value and gradient w.r.t. the logits; the JAX and TensorFlow sides are
compiled (jax.jit, tf.function(jit_compile=True)), torch runs eagerly.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))


def _median_time(fn: Callable[[], Any], sync: Callable[[Any], Any], repeat: int) -> float:
    sync(fn())  # warm-up / compile
    sync(fn())
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        sync(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _registered(cases: dict) -> dict:
    """Only the losses this checkout has."""
    import multiloss

    return {k: v for k, v in cases.items() if k in multiloss.available_losses()}


def _inputs(shape: tuple[int, int], seed: int = 0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=3.0, size=shape).astype(np.float32)
    labels = rng.integers(0, shape[1], size=shape[0])
    multi = (rng.random(shape) > 0.9).astype(np.float32)
    return logits, labels, multi


def torch_cases():
    import torch
    import torch.nn.functional as F

    import multiloss.torch as ml

    def torchvision_focal(x, y, alpha=0.25, gamma=2.0):
        # torchvision.ops.sigmoid_focal_loss, written out (torchvision is optional here)
        p = torch.sigmoid(x)
        ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
        p_t = p * y + (1 - p) * (1 - y)
        loss = ce * ((1 - p_t) ** gamma)
        return (alpha * y + (1 - alpha) * (1 - y)) * loss

    return {
        "cross_entropy": (
            lambda x, lab, multi: ml.cross_entropy(x, lab),
            lambda x, lab, multi: F.cross_entropy(x, lab),
        ),
        "binary_cross_entropy": (
            lambda x, lab, multi: ml.binary_cross_entropy(x, multi),
            lambda x, lab, multi: F.binary_cross_entropy_with_logits(x, multi),
        ),
        "sigmoid_focal_loss": (
            lambda x, lab, multi: ml.sigmoid_focal_loss(x, multi),
            lambda x, lab, multi: torchvision_focal(x, multi).mean(),
        ),
    }


def run_torch(shape, repeat):
    import torch

    logits, labels, multi = _inputs(shape)
    lab, multi_t = torch.from_numpy(labels), torch.from_numpy(multi)
    rows = []
    for name, (ours, native) in _registered(torch_cases()).items():
        def step(f):
            def go():
                x = torch.from_numpy(logits).requires_grad_(True)
                loss = f(x, lab, multi_t)
                loss.backward()
                return x.grad
            return go
        t_ours = _median_time(step(ours), lambda g: None, repeat)
        t_native = _median_time(step(native), lambda g: None, repeat)
        rows.append(("torch", name, "torch.nn.functional", t_ours, t_native))
    return rows


def run_jax(shape, repeat):
    import jax
    import optax

    import multiloss.jax as ml

    logits, labels, multi = _inputs(shape)
    x, lab, multi_j = jax.numpy.asarray(logits), jax.numpy.asarray(labels), jax.numpy.asarray(multi)
    cases = {
        "cross_entropy": (
            lambda x: ml.cross_entropy(x, lab),
            lambda x: optax.losses.softmax_cross_entropy_with_integer_labels(x, lab).mean(),
        ),
        "binary_cross_entropy": (
            lambda x: ml.binary_cross_entropy(x, multi_j),
            lambda x: optax.losses.sigmoid_binary_cross_entropy(x, multi_j).mean(),
        ),
        "sigmoid_focal_loss": (
            lambda x: ml.sigmoid_focal_loss(x, multi_j),
            lambda x: optax.losses.sigmoid_focal_loss(x, multi_j, alpha=0.25, gamma=2.0).mean(),
        ),
    }
    rows = []
    for name, (ours, native) in _registered(cases).items():
        f_ours = jax.jit(jax.value_and_grad(ours))
        f_native = jax.jit(jax.value_and_grad(native))
        sync = jax.block_until_ready
        rows.append(("jax", name, "optax.losses", _median_time(partial(f_ours, x), sync, repeat),
                     _median_time(partial(f_native, x), sync, repeat)))
    return rows


def run_tensorflow(shape, repeat):
    import tensorflow as tf

    import multiloss.tensorflow as ml

    logits, labels, multi = _inputs(shape)
    x, lab, multi_t = tf.constant(logits), tf.constant(labels), tf.constant(multi)
    cases = {
        "cross_entropy": (
            lambda x: ml.cross_entropy(x, lab),
            lambda x: tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(lab, x)),
        ),
        "binary_cross_entropy": (
            lambda x: ml.binary_cross_entropy(x, multi_t),
            lambda x: tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(multi_t, x)),
        ),
    }
    rows = []
    for name, (ours, native) in _registered(cases).items():
        def compiled(f):
            @tf.function(jit_compile=True)
            def go(x):
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    loss = f(x)
                return loss, tape.gradient(loss, x)
            return go
        f_ours, f_native = compiled(ours), compiled(native)
        sync = lambda out: out[1].numpy()  # noqa: E731
        rows.append(("tensorflow", name, "tf.nn", _median_time(partial(f_ours, x), sync, repeat),
                     _median_time(partial(f_native, x), sync, repeat)))
    return rows


RUNNERS = {"torch": run_torch, "jax": run_jax, "tensorflow": run_tensorflow}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frameworks", default="torch,jax,tensorflow")
    parser.add_argument("--sizes", default="8x4,4096x80,65536x80",
                        help="comma-separated NxC input sizes")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    frameworks = [f for f in args.frameworks.split(",") if f]
    if "torch" in frameworks:
        import torch  # noqa: F401  (torch before tensorflow)
    print(f"{'framework':<11} {'loss':<22} {'size':>9} {'native':<20} "
          f"{'multiloss':>11} {'native':>11} {'ratio':>6}")
    for size in args.sizes.split(","):
        shape = tuple(int(s) for s in size.split("x"))
        for framework in frameworks:
            for fw, name, native, t_ours, t_native in RUNNERS[framework](shape, args.repeat):
                print(f"{fw:<11} {name:<22} {size:>9} {native:<20} "
                      f"{t_ours * 1e6:>9.0f}us {t_native * 1e6:>9.0f}us {t_ours / t_native:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""smooth_labels, from optax.losses.smooth_labels (float64)."""

from __future__ import annotations

import numpy as np

from conformance.cases import builds, case, jax_reference


def _optax_smooth(y_true, epsilon):
    import optax

    return optax.losses.smooth_labels(y_true, epsilon)


@builds("smooth_labels")
def smooth_labels_cases(rng):
    src = "optax.losses.smooth_labels (float64, jax.grad)"
    reference = jax_reference(_optax_smooth)
    both = ["y_true", "epsilon"]
    one_hot = np.eye(5, dtype=np.float32)[rng.integers(0, 5, size=6)]
    soft = rng.dirichlet(np.ones(5), size=6).astype(np.float32)
    for eps in (0.1, 0.0, 1.0):
        yield case(
            f"one_hot_eps_{eps}", {"y_true": one_hot, "epsilon": np.float32(eps)}, {}, reference,
            source=src, wrt=both,
        )
    yield case("soft_eps_0.3", {"y_true": soft, "epsilon": np.float32(0.3)}, {}, reference, source=src, wrt=both)
    rank3 = np.eye(4, dtype=np.float32)[rng.integers(0, 4, size=(2, 3))]
    yield case("rank3_eps_0.2", {"y_true": rank3, "epsilon": np.float32(0.2)}, {}, reference, source=src, wrt=both)
    for dtype in ("float16", "bfloat16"):
        yield case(
            f"{dtype}_eps_0.1", {"y_true": one_hot, "epsilon": np.float32(0.1)}, {}, reference,
            source=src, dtype=dtype, wrt=both,
        )

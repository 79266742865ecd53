"""A user's first lines with one framework: ``import multiloss.<framework>`` (before
anything else imports Keras) and the README's cross-entropy row.

    python tests/single_framework_probe.py torch

prints one line of JSON: the values, Keras' backend, the framework modules imported
and where multiloss came from. The callers (``tests/test_single_framework.py`` and the
nox session ``single_framework``) run it with ``KERAS_BACKEND`` unset and assert that
nothing else is printed and that TensorFlow was not imported.
"""

import importlib
import json
import sys

framework = sys.argv[1]
adapter = importlib.import_module(f"multiloss.{framework}")
logits, labels = [[2.0, 0.5, 1.0], [0.1, 1.0, 3.0]], [1, 2]
if framework == "torch":
    import torch

    values = adapter.cross_entropy(torch.tensor(logits), torch.tensor(labels), reduction="none").tolist()
elif framework == "jax":
    import jax.numpy as jnp

    values = adapter.cross_entropy(jnp.array(logits), jnp.array(labels), reduction="none").tolist()
else:
    raise SystemExit(f"unknown framework {framework!r}")

print(json.dumps({
    "values": values,
    "keras_backend": sys.modules["keras"].config.backend(),
    "modules": sorted(m for m in ("torch", "jax", "tensorflow", "keras") if m in sys.modules),
    "multiloss": sys.modules["multiloss"].__file__,
}))

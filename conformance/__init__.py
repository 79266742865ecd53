"""Reference cases for every multiloss loss and the generator that computes them.

The case builders (``conformance/cases/<family>.py``) compute expected values and
gradients with peer libraries (``torch.nn.functional``, ``optax.losses``, ``tf.nn``,
``keras.losses``) or float64 formulas, never with multiloss; ``python -m
conformance.generate`` writes them to ``multiloss/verify/data/`` (shipped with
the package, read by ``multiloss check``).
"""

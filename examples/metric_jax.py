"""Metric learning in JAX with ArcFace on scikit-learn's digits.

A small MLP embeds 8×8 digit images in 16 dimensions; the cosine logits are the
normalised embeddings times a normalised class-weight matrix (one learned "class
centre" per digit), trained with optax on ``multiloss.jax.arcface_loss`` (additive
angular margin m = 0.3, scale s = 16) inside one ``jax.jit`` step. At the end the
held-out digits are classified by their nearest class centre (the mean training
embedding of each digit, by cosine) and by the largest cosine logit.
Run: ``python examples/metric_jax.py`` (a few seconds on a CPU).
"""

import os

# multiloss builds on Keras' backend modules; with Keras on JAX, TensorFlow is not loaded.
os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from metric_data import CLASSES, EMBEDDING_DIM, centre_accuracy, load_split  # noqa: E402

import multiloss.jax as ml  # noqa: E402

STEPS = 300
SCALE, MARGIN = 16.0, 0.3


def dense(key, n_in, n_out):
    return {"w": jax.random.normal(key, (n_in, n_out)) / jnp.sqrt(n_in), "b": jnp.zeros(n_out)}


def init_params(key):
    k1, k2, k3 = jax.random.split(key, 3)
    return {
        "hidden": dense(k1, 64, 64),
        "out": dense(k2, 64, EMBEDDING_DIM),
        "class_weights": jax.random.normal(k3, (CLASSES, EMBEDDING_DIM)),
    }


def normalize(v):
    return v / jnp.maximum(jnp.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def embed(params, x):
    h = jax.nn.relu(x @ params["hidden"]["w"] + params["hidden"]["b"])
    return h @ params["out"]["w"] + params["out"]["b"]


def cosine_logits(params, x):
    return normalize(embed(params, x)) @ normalize(params["class_weights"]).T


def objective(params, x, y):
    return ml.arcface_loss(cosine_logits(params, x), y, scale=SCALE, margin=MARGIN)


optimizer = optax.adam(0.01)


@jax.jit
def train_step(params, opt_state, x, y):
    grads = jax.grad(objective)(params, x, y)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


def main():
    x_train, y_train, x_test, y_test = load_split()
    params = init_params(jax.random.PRNGKey(0))
    opt_state = optimizer.init(params)
    for step in range(STEPS + 1):
        if step % 50 == 0:
            print(f"step {step:3d}  arcface {float(objective(params, x_train, y_train)):.4f}")
        if step < STEPS:
            params, opt_state = train_step(params, opt_state, x_train, y_train)
    train_embeddings, test_embeddings = (np.asarray(embed(params, x)) for x in (x_train, x_test))
    centre = centre_accuracy(train_embeddings, y_train, test_embeddings, y_test)
    logit = float(np.mean(np.argmax(np.asarray(cosine_logits(params, x_test)), -1) == y_test))
    print(f"held-out accuracy: nearest class centre {centre:.4f}  cosine logits {logit:.4f}")


if __name__ == "__main__":
    main()

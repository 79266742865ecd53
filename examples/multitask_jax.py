"""Two-task training in JAX with learned uncertainty weighting (Kendall et al. 2018).

A shared trunk feeds a regression head (mean squared error) and a 3-class
classification head (cross-entropy). ``multiloss.jax.UncertaintyWeighting`` is pure:
``init()`` gives its state (``{"log_vars": ...}``), which lives in the parameter pytree
next to the network's weights and is trained by the same optax optimizer.
Run: ``python examples/multitask_jax.py`` (a few seconds on a CPU).
"""

import os

# multiloss builds on Keras' backend modules; with Keras on JAX, TensorFlow is not loaded.
os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from synthetic_data import make_data  # noqa: E402

import multiloss.jax as ml  # noqa: E402

STEPS = 60
weighting = ml.UncertaintyWeighting(2, task_types=["regression", "classification"])


def dense(key, n_in, n_out):
    return {"w": jax.random.normal(key, (n_in, n_out)) / np.sqrt(n_in), "b": jnp.zeros(n_out)}


def init_params(key):
    k1, k2, k3 = jax.random.split(key, 3)
    return {
        "trunk": dense(k1, 4, 16),
        "regression_head": dense(k2, 16, 1),
        "classification_head": dense(k3, 16, 3),
        "weighting": weighting.init(),  # {"log_vars": zeros(2)}, trained like the rest
    }


def task_losses(params, x, y_reg, labels):
    h = jnp.tanh(x @ params["trunk"]["w"] + params["trunk"]["b"])
    prediction = h @ params["regression_head"]["w"] + params["regression_head"]["b"]
    logits = h @ params["classification_head"]["w"] + params["classification_head"]["b"]
    return ml.mean_squared_error(prediction, y_reg), ml.cross_entropy(logits, labels)


def objective(params, x, y_reg, labels):
    mse, ce = task_losses(params, x, y_reg, labels)
    total, _ = weighting.apply(params["weighting"], [mse, ce])
    return total, (mse, ce)


optimizer = optax.adam(0.05)


@jax.jit
def train_step(params, opt_state, x, y_reg, labels):
    (total, (mse, ce)), grads = jax.value_and_grad(objective, has_aux=True)(params, x, y_reg, labels)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, total, mse, ce


def main():
    x, y_reg, labels = (jnp.asarray(a) for a in make_data())
    params = init_params(jax.random.PRNGKey(0))
    opt_state = optimizer.init(params)
    for step in range(STEPS + 1):
        if step % 10 == 0:
            total, (mse, ce) = objective(params, x, y_reg, labels)
            print(f"step {step:3d}  mse {float(mse):.4f}  cross_entropy {float(ce):.4f}  total {float(total):.4f}")
        if step < STEPS:
            params, opt_state, *_ = train_step(params, opt_state, x, y_reg, labels)
    log_vars = np.asarray(params["weighting"]["log_vars"])
    print(f"log_vars (regression, classification): {log_vars[0]:.4f}, {log_vars[1]:.4f}")


if __name__ == "__main__":
    main()

"""Box regression in JAX with GIoU + smooth L1 (the DETR-style box loss).

A small network reads features and predicts one box per example in ``"cxcywh"``
format (centre, width, height); it is trained by optax on the sum of
``multiloss.jax.giou_loss`` (Rezatofighi et al. 2019: also a gradient when the boxes
do not overlap yet, e.g. at the start, when every predicted box is tiny) and
``multiloss.jax.smooth_l1_loss`` on the four coordinates, in one jitted step.
Run: ``python examples/boxes_jax.py`` (a few seconds on a CPU).
"""

import os

# multiloss builds on Keras' backend modules; with Keras on JAX, TensorFlow is not loaded.
os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from boxes_data import make_boxes  # noqa: E402

import multiloss.jax as ml  # noqa: E402

STEPS = 200


def dense(key, n_in, n_out):
    return {"w": jax.random.normal(key, (n_in, n_out)) / np.sqrt(n_in), "b": jnp.zeros(n_out)}


def init_params(key):
    k1, k2 = jax.random.split(key)
    return {"hidden": dense(k1, 8, 32), "out": dense(k2, 32, 4)}


def predict(params, x):
    h = jnp.tanh(x @ params["hidden"]["w"] + params["hidden"]["b"])
    return h @ params["out"]["w"] + params["out"]["b"]


def objective(params, x, boxes):
    predicted = predict(params, x)
    giou = ml.giou_loss(predicted, boxes, box_format="cxcywh")
    smooth_l1 = ml.smooth_l1_loss(predicted, boxes)
    return giou + smooth_l1, (giou, smooth_l1)


optimizer = optax.adam(0.02)


@jax.jit
def train_step(params, opt_state, x, boxes):
    (total, _), grads = jax.value_and_grad(objective, has_aux=True)(params, x, boxes)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, total


def main():
    x, boxes = (jnp.asarray(a) for a in make_boxes())
    params = init_params(jax.random.PRNGKey(0))
    opt_state = optimizer.init(params)
    for step in range(STEPS + 1):
        if step % 40 == 0:
            _, (giou, smooth_l1) = objective(params, x, boxes)
            iou = 1.0 - ml.iou_loss(predict(params, x), boxes, box_format="cxcywh")
            print(f"step {step:3d}  giou {float(giou):.4f}  smooth_l1 {float(smooth_l1):.4f}  mean_iou {float(iou):.4f}")
        if step < STEPS:
            params, opt_state, _ = train_step(params, opt_state, x, boxes)


if __name__ == "__main__":
    main()

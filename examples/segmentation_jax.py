"""Semantic segmentation in JAX with Dice + cross entropy.

A two-layer convolutional network (``jax.lax.conv_general_dilated``, channel-last)
labels every pixel of small synthetic grey images (background, rectangles, discs).
It is trained with optax on the sum of ``multiloss.jax.dice_loss`` (soft Dice per
image, averaged over the classes) and ``multiloss.jax.cross_entropy`` with integer
class ids on the channel-last logits ``[B, H, W, C]``, inside one ``jax.jit`` step.
Run: ``python examples/segmentation_jax.py`` (a few seconds on a CPU).
"""

import os

# multiloss builds on Keras' backend modules; with Keras on JAX, TensorFlow is not loaded.
os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402
from segmentation_data import make_masks  # noqa: E402

import multiloss.jax as ml  # noqa: E402

STEPS = 40


def conv(key, n_in, n_out):
    return {"w": jax.random.normal(key, (3, 3, n_in, n_out)) / jnp.sqrt(9.0 * n_in), "b": jnp.zeros(n_out)}


def init_params(key):
    k1, k2 = jax.random.split(key)
    return {"features": conv(k1, 1, 8), "classifier": conv(k2, 8, 3)}


def apply_conv(layer, x):
    y = jax.lax.conv_general_dilated(x, layer["w"], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return y + layer["b"]


def logits_of(params, images):  # [B, H, W, 1] -> [B, H, W, C]
    return apply_conv(params["classifier"], jnp.tanh(apply_conv(params["features"], images)))


def losses(params, images, masks):
    logits = logits_of(params, images)
    return ml.dice_loss(logits, masks), ml.cross_entropy(logits, masks)


def objective(params, images, masks):
    dice, ce = losses(params, images, masks)
    return dice + ce


optimizer = optax.adam(0.03)


@jax.jit
def train_step(params, opt_state, images, masks):
    grads = jax.grad(objective)(params, images, masks)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


def main():
    images, masks = (jnp.asarray(a) for a in make_masks())
    params = init_params(jax.random.PRNGKey(0))
    opt_state = optimizer.init(params)
    for step in range(STEPS + 1):
        if step % 10 == 0:
            dice, ce = losses(params, images, masks)
            accuracy = jnp.mean(jnp.argmax(logits_of(params, images), -1) == masks)
            print(f"step {step:3d}  dice {float(dice):.4f}  cross_entropy {float(ce):.4f}  pixel_accuracy {float(accuracy):.4f}")
        if step < STEPS:
            params, opt_state = train_step(params, opt_state, images, masks)


if __name__ == "__main__":
    main()

"""Semantic segmentation in TensorFlow with Dice + cross entropy.

A two-layer convolutional network (``tf.nn.conv2d``, channel-last) labels every pixel
of small synthetic grey images (background, rectangles, discs). It is trained by
plain gradient descent with momentum inside a ``tf.function`` on the sum of
``multiloss.tensorflow.dice_loss`` (soft Dice per image, averaged over the classes)
and ``multiloss.tensorflow.cross_entropy`` with integer class ids on the channel-last
logits ``[B, H, W, C]``.
Run: ``python examples/segmentation_tensorflow.py`` (a few seconds on a CPU).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# multiloss builds on Keras' backend modules; Keras on TensorFlow loads no other framework.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from segmentation_data import make_masks  # noqa: E402

import multiloss.tensorflow as ml  # noqa: E402

STEPS = 40
LEARNING_RATE, MOMENTUM = 0.5, 0.9


class Conv(tf.Module):
    def __init__(self, n_in, n_out, seed):
        super().__init__()
        init = tf.random.stateless_normal((3, 3, n_in, n_out), seed=(seed, 0)) / np.sqrt(9.0 * n_in)
        self.w = tf.Variable(init)
        self.b = tf.Variable(tf.zeros(n_out))

    def __call__(self, x):
        return tf.nn.conv2d(x, self.w, strides=1, padding="SAME") + self.b


class SegmentationNet(tf.Module):
    def __init__(self, classes=3):
        super().__init__()
        self.features = Conv(1, 8, seed=1)
        self.classifier = Conv(8, classes, seed=2)

    def __call__(self, images):  # [B, H, W, 1] -> logits [B, H, W, C]
        return self.classifier(tf.tanh(self.features(images)))


net = SegmentationNet()
velocities = [tf.Variable(tf.zeros_like(v)) for v in net.trainable_variables]


@tf.function
def train_step(images, masks):
    with tf.GradientTape() as tape:
        logits = net(images)
        total = ml.dice_loss(logits, masks) + ml.cross_entropy(logits, masks)
    grads = tape.gradient(total, net.trainable_variables)
    for variable, velocity, grad in zip(net.trainable_variables, velocities, grads, strict=True):
        velocity.assign(MOMENTUM * velocity + grad)
        variable.assign_sub(LEARNING_RATE * velocity)


def main():
    images, masks = (tf.constant(a) for a in make_masks())
    for step in range(STEPS + 1):
        if step % 10 == 0:
            logits = net(images)
            dice = float(ml.dice_loss(logits, masks))
            ce = float(ml.cross_entropy(logits, masks))
            accuracy = float(tf.reduce_mean(tf.cast(tf.argmax(logits, -1) == masks, tf.float32)))
            print(f"step {step:3d}  dice {dice:.4f}  cross_entropy {ce:.4f}  pixel_accuracy {accuracy:.4f}")
        if step < STEPS:
            train_step(images, masks)


if __name__ == "__main__":
    main()

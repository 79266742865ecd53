"""Box regression in TensorFlow with GIoU + smooth L1 (the DETR-style box loss).

A small ``tf.Module`` network reads features and predicts one box per example in
``"cxcywh"`` format (centre, width, height); it is trained by gradient descent with
momentum inside a ``tf.function`` on the sum of ``multiloss.tensorflow.giou_loss``
(Rezatofighi et al. 2019: also a gradient when the boxes do not overlap yet, e.g. at
the start, when every predicted box is tiny) and ``multiloss.tensorflow.smooth_l1_loss``
on the four coordinates.
Run: ``python examples/boxes_tensorflow.py`` (a few seconds on a CPU).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# multiloss builds on Keras' backend modules; Keras on TensorFlow loads no other framework.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from boxes_data import make_boxes  # noqa: E402

import multiloss.tensorflow as ml  # noqa: E402

STEPS = 200
LEARNING_RATE, MOMENTUM = 0.05, 0.9


class Dense(tf.Module):
    def __init__(self, n_in, n_out, seed):
        super().__init__()
        init = tf.random.stateless_normal((n_in, n_out), seed=(seed, 0)) / np.sqrt(n_in)
        self.w = tf.Variable(init)
        self.b = tf.Variable(tf.zeros(n_out))

    def __call__(self, x):
        return x @ self.w + self.b


class BoxNet(tf.Module):
    def __init__(self):
        super().__init__()
        self.hidden = Dense(8, 32, seed=1)
        self.out = Dense(32, 4, seed=2)

    def __call__(self, x):
        return self.out(tf.tanh(self.hidden(x)))


net = BoxNet()
velocities = [tf.Variable(tf.zeros_like(v)) for v in net.trainable_variables]


def losses(x, boxes):
    predicted = net(x)
    giou = ml.giou_loss(predicted, boxes, box_format="cxcywh")
    smooth_l1 = ml.smooth_l1_loss(predicted, boxes)
    return giou, smooth_l1, predicted


@tf.function
def train_step(x, boxes):
    with tf.GradientTape() as tape:
        giou, smooth_l1, _ = losses(x, boxes)
        total = giou + smooth_l1
    variables = net.trainable_variables
    grads = tape.gradient(total, variables)
    for variable, velocity, grad in zip(variables, velocities, grads, strict=True):
        velocity.assign(MOMENTUM * velocity + grad)
        variable.assign_sub(LEARNING_RATE * velocity)
    return total


def main():
    x, boxes = (tf.constant(a) for a in make_boxes())
    for step in range(STEPS + 1):
        if step % 40 == 0:
            giou, smooth_l1, predicted = losses(x, boxes)
            iou = 1.0 - ml.iou_loss(predicted, boxes, box_format="cxcywh")
            print(f"step {step:3d}  giou {float(giou):.4f}  smooth_l1 {float(smooth_l1):.4f}  mean_iou {float(iou):.4f}")
        if step < STEPS:
            train_step(x, boxes)


if __name__ == "__main__":
    main()

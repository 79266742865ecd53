"""Two-task training in TensorFlow with learned uncertainty weighting (Kendall et al. 2018).

A shared trunk feeds a regression head (mean squared error) and a 3-class
classification head (cross-entropy); ``multiloss.tensorflow.UncertaintyWeighting`` is a
``tf.Module`` whose ``log_vars`` (one per task) is a trainable ``tf.Variable``, trained
with the network's variables by plain gradient descent inside a ``tf.function``.
Run: ``python examples/multitask_tensorflow.py`` (a few seconds on a CPU).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# multiloss builds on Keras' backend modules; Keras on TensorFlow loads no other framework.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from synthetic_data import make_data  # noqa: E402

import multiloss.tensorflow as ml  # noqa: E402

STEPS = 60
LEARNING_RATE = 0.1


class Dense(tf.Module):
    def __init__(self, n_in, n_out, seed):
        super().__init__()
        init = tf.random.stateless_normal((n_in, n_out), seed=(seed, 0)) / np.sqrt(n_in)
        self.w = tf.Variable(init)
        self.b = tf.Variable(tf.zeros(n_out))

    def __call__(self, x):
        return x @ self.w + self.b


class TwoTaskNet(tf.Module):
    def __init__(self):
        super().__init__()
        self.trunk = Dense(4, 16, seed=1)
        self.regression_head = Dense(16, 1, seed=2)
        self.classification_head = Dense(16, 3, seed=3)

    def __call__(self, x):
        h = tf.tanh(self.trunk(x))
        return self.regression_head(h), self.classification_head(h)


net = TwoTaskNet()
weighting = ml.UncertaintyWeighting(2, task_types=["regression", "classification"])
variables = net.trainable_variables + weighting.trainable_variables


@tf.function
def train_step(x, y_reg, labels):
    with tf.GradientTape() as tape:
        prediction, logits = net(x)
        mse = ml.mean_squared_error(prediction, y_reg)
        ce = ml.cross_entropy(logits, labels)
        total = weighting([mse, ce])
    for variable, grad in zip(variables, tape.gradient(total, variables), strict=True):
        variable.assign_sub(LEARNING_RATE * grad)
    return total, mse, ce


def main():
    x, y_reg, labels = (tf.constant(a) for a in make_data())
    for step in range(STEPS + 1):
        if step % 10 == 0:
            prediction, logits = net(x)
            mse = float(ml.mean_squared_error(prediction, y_reg))
            ce = float(ml.cross_entropy(logits, labels))
            total = float(weighting([mse, ce]))
            print(f"step {step:3d}  mse {mse:.4f}  cross_entropy {ce:.4f}  total {total:.4f}")
        if step < STEPS:
            train_step(x, y_reg, labels)
    log_vars = weighting.log_vars.numpy()
    print(f"log_vars (regression, classification): {log_vars[0]:.4f}, {log_vars[1]:.4f}")


if __name__ == "__main__":
    main()

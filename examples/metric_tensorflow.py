"""Metric learning in TensorFlow with ArcFace on scikit-learn's digits.

A small MLP embeds 8×8 digit images in 16 dimensions; the cosine logits are the
normalised embeddings times a normalised class-weight matrix (one learned "class
centre" per digit), trained by gradient descent with momentum inside a
``tf.function`` on ``multiloss.tensorflow.arcface_loss`` (additive angular margin
m = 0.3, scale s = 16). At the end the held-out digits are classified by their
nearest class centre (the mean training embedding of each digit, by cosine) and by
the largest cosine logit.
Run: ``python examples/metric_tensorflow.py`` (a few seconds on a CPU).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# multiloss builds on Keras' backend modules; Keras on TensorFlow loads no other framework.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from metric_data import CLASSES, EMBEDDING_DIM, centre_accuracy, load_split  # noqa: E402

import multiloss.tensorflow as ml  # noqa: E402

STEPS = 300
SCALE, MARGIN = 16.0, 0.3
LEARNING_RATE, MOMENTUM = 0.05, 0.9


class Dense(tf.Module):
    def __init__(self, n_in, n_out, seed):
        super().__init__()
        self.w = tf.Variable(tf.random.stateless_normal((n_in, n_out), seed=(seed, 0)) / np.sqrt(n_in))
        self.b = tf.Variable(tf.zeros(n_out))

    def __call__(self, x):
        return x @ self.w + self.b


class CosineClassifier(tf.Module):
    def __init__(self):
        super().__init__()
        self.hidden = Dense(64, 64, seed=1)
        self.out = Dense(64, EMBEDDING_DIM, seed=2)
        self.class_weights = tf.Variable(tf.random.stateless_normal((CLASSES, EMBEDDING_DIM), seed=(3, 0)))

    def embed(self, x):
        return self.out(tf.nn.relu(self.hidden(x)))

    def __call__(self, x):  # cosine logits [B, C]
        embeddings = tf.math.l2_normalize(self.embed(x), axis=-1)
        return embeddings @ tf.transpose(tf.math.l2_normalize(self.class_weights, axis=-1))


model = CosineClassifier()
velocities = [tf.Variable(tf.zeros_like(v)) for v in model.trainable_variables]


@tf.function
def train_step(x, y):
    with tf.GradientTape() as tape:
        loss = ml.arcface_loss(model(x), y, scale=SCALE, margin=MARGIN)
    grads = tape.gradient(loss, model.trainable_variables)
    for variable, velocity, grad in zip(model.trainable_variables, velocities, grads, strict=True):
        velocity.assign(MOMENTUM * velocity + grad)
        variable.assign_sub(LEARNING_RATE * velocity)


def main():
    x_train, y_train, x_test, y_test = load_split()
    for step in range(STEPS + 1):
        if step % 50 == 0:
            loss = float(ml.arcface_loss(model(x_train), y_train, scale=SCALE, margin=MARGIN))
            print(f"step {step:3d}  arcface {loss:.4f}")
        if step < STEPS:
            train_step(x_train, y_train)
    train_embeddings, test_embeddings = (model.embed(x).numpy() for x in (x_train, x_test))
    centre = centre_accuracy(train_embeddings, y_train, test_embeddings, y_test)
    logit = float(np.mean(np.argmax(model(x_test).numpy(), -1) == y_test))
    print(f"held-out accuracy: nearest class centre {centre:.4f}  cosine logits {logit:.4f}")


if __name__ == "__main__":
    main()

"""Metric learning in Keras 3 with ArcFace on scikit-learn's digits, on any backend.

A small MLP embeds 8×8 digit images in 16 dimensions; a ``CosineHead`` layer turns
the embeddings into cosine logits (normalised embeddings times its normalised
class-weight matrix, one learned "class centre" per digit). The model is compiled
with ``multiloss.keras.ArcFaceLoss(scale=16.0, margin=0.3)`` and trained by
``model.fit``, on any backend (``KERAS_BACKEND=jax|torch|tensorflow``). At the end the
held-out digits are classified by their nearest class centre (the mean training
embedding of each digit, by cosine) and by the largest cosine logit.
Run: ``KERAS_BACKEND=jax python examples/metric_keras.py`` (a few seconds on a CPU).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from metric_data import CLASSES, EMBEDDING_DIM, centre_accuracy, load_split  # noqa: E402

import multiloss.keras as ml  # noqa: E402

EPOCHS, ROUNDS = 50, 6  # full-batch steps: 300 in all
SCALE, MARGIN = 16.0, 0.3


class CosineHead(keras.layers.Layer):
    """Cosine logits ``[B, C]``: normalised inputs times normalised class weights."""

    def __init__(self, classes, **kwargs):
        super().__init__(**kwargs)
        self.classes = classes

    def build(self, input_shape):
        self.class_weights = self.add_weight(
            shape=(self.classes, input_shape[-1]), initializer="random_normal", name="class_weights"
        )

    def call(self, embeddings):
        unit = keras.ops.normalize(embeddings, axis=-1)
        centres = keras.ops.normalize(self.class_weights, axis=-1)
        return keras.ops.matmul(unit, keras.ops.transpose(centres))


def report(step, model, x_train, y_train):
    loss = ml.ArcFaceLoss(scale=SCALE, margin=MARGIN)(y_train, model(x_train))
    print(f"step {step:3d}  arcface {float(keras.ops.convert_to_numpy(loss)):.4f}")


def main():
    keras.utils.set_random_seed(0)
    x_train, y_train, x_test, y_test = load_split()
    embedder = keras.Sequential(
        [keras.Input((64,)), keras.layers.Dense(64, activation="relu"), keras.layers.Dense(EMBEDDING_DIM)]
    )
    model = keras.Sequential([embedder, CosineHead(CLASSES)])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=ml.ArcFaceLoss(scale=SCALE, margin=MARGIN))
    print("backend", keras.config.backend())
    report(0, model, x_train, y_train)
    for round_ in range(1, ROUNDS + 1):
        model.fit(x_train, y_train, batch_size=len(x_train), epochs=EPOCHS, verbose=0)
        report(round_ * EPOCHS, model, x_train, y_train)
    train_embeddings, test_embeddings = (keras.ops.convert_to_numpy(embedder(x)) for x in (x_train, x_test))
    centre = centre_accuracy(train_embeddings, y_train, test_embeddings, y_test)
    logit = float(np.mean(np.argmax(keras.ops.convert_to_numpy(model(x_test)), -1) == y_test))
    print(f"held-out accuracy: nearest class centre {centre:.4f}  cosine logits {logit:.4f}")


if __name__ == "__main__":
    main()

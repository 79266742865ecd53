"""Semantic segmentation in Keras 3 with Dice + cross entropy, on any backend.

A two-layer convolutional network (channel-last ``Conv2D``) labels every pixel of
small synthetic grey images (background, rectangles, discs). The model's
``compute_loss`` adds the ``multiloss.keras.DiceLoss`` (soft Dice per image, averaged
over the classes) and ``multiloss.keras.CrossEntropy`` (integer class ids on the
channel-last logits ``[B, H, W, C]``) losses, so ``model.fit`` trains on their sum,
on any backend (``KERAS_BACKEND=jax|torch|tensorflow``).
Run: ``KERAS_BACKEND=jax python examples/segmentation_keras.py`` (a few seconds on a CPU).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from segmentation_data import make_masks  # noqa: E402

import multiloss.keras as ml  # noqa: E402

EPOCHS, ROUNDS = 5, 4  # 2 batches per epoch: 40 steps in all


class SegmentationModel(keras.Model):
    def __init__(self, classes=3, **kwargs):
        super().__init__(**kwargs)
        self.features = keras.layers.Conv2D(8, 3, padding="same", activation="tanh")
        self.classifier = keras.layers.Conv2D(classes, 3, padding="same")
        self.dice = ml.DiceLoss()
        self.cross_entropy = ml.CrossEntropy()

    def call(self, images):  # [B, H, W, 1] -> logits [B, H, W, C]
        return self.classifier(self.features(images))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return self.dice(y, y_pred) + self.cross_entropy(y, y_pred)


def report(model, step, images, masks):
    logits = model(images)
    dice = float(keras.ops.convert_to_numpy(model.dice(masks, logits)))
    ce = float(keras.ops.convert_to_numpy(model.cross_entropy(masks, logits)))
    accuracy = float(np.mean(np.argmax(keras.ops.convert_to_numpy(logits), -1) == masks))
    print(f"step {step:3d}  dice {dice:.4f}  cross_entropy {ce:.4f}  pixel_accuracy {accuracy:.4f}")


def main():
    keras.utils.set_random_seed(0)
    images, masks = make_masks()
    model = SegmentationModel()
    model.compile(optimizer=keras.optimizers.Adam(0.03))
    model(images[:1])  # builds the layers
    print("backend", keras.config.backend())
    report(model, 0, images, masks)
    steps_per_epoch = len(images) // 32
    for round_ in range(1, ROUNDS + 1):
        model.fit(images, masks, batch_size=32, epochs=EPOCHS, verbose=0)
        report(model, round_ * EPOCHS * steps_per_epoch, images, masks)


if __name__ == "__main__":
    main()

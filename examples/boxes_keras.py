"""Box regression in Keras 3 with GIoU + smooth L1 (the DETR-style box loss).

A small model reads features and predicts one box per example in ``"cxcywh"`` format
(centre, width, height). It is compiled with the sum of two Keras ``Loss`` objects,
``multiloss.keras.GIoULoss(box_format="cxcywh")`` (Rezatofighi et al. 2019: also a
gradient when the boxes do not overlap yet, e.g. at the start, when every predicted
box is tiny) and ``multiloss.keras.SmoothL1Loss()`` on the four coordinates, and
trained by ``model.fit`` on any backend (``KERAS_BACKEND=jax|torch|tensorflow``).
Run: ``KERAS_BACKEND=jax python examples/boxes_keras.py`` (a few seconds on a CPU).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
from boxes_data import make_boxes  # noqa: E402

import multiloss.keras as ml  # noqa: E402

EPOCHS, ROUNDS = 10, 5  # 4 batches per epoch: 200 steps in all

giou = ml.GIoULoss(box_format="cxcywh")
smooth_l1 = ml.SmoothL1Loss()


def box_loss(y_true, y_pred):
    return giou(y_true, y_pred) + smooth_l1(y_true, y_pred)


def report(model, step, x, boxes):
    predicted = model(x)
    values = (
        giou(boxes, predicted),
        smooth_l1(boxes, predicted),
        1.0 - ml.iou_loss(boxes, predicted, box_format="cxcywh", reduction="mean"),
    )
    g, s, iou = (float(keras.ops.convert_to_numpy(v)) for v in values)
    print(f"step {step:3d}  giou {g:.4f}  smooth_l1 {s:.4f}  mean_iou {iou:.4f}")


def main():
    keras.utils.set_random_seed(0)
    x, boxes = make_boxes()
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(32, activation="tanh"), keras.layers.Dense(4)])
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss=box_loss)
    print("backend", keras.config.backend())
    report(model, 0, x, boxes)
    steps_per_epoch = len(x) // 64
    for round_ in range(1, ROUNDS + 1):
        model.fit(x, boxes, batch_size=64, epochs=EPOCHS, verbose=0)
        report(model, round_ * EPOCHS * steps_per_epoch, x, boxes)


if __name__ == "__main__":
    main()

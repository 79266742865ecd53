"""Two-task training in Keras 3 with learned uncertainty weighting (Kendall et al. 2018).

A shared trunk feeds a regression head (mean squared error) and a 3-class
classification head (cross-entropy). ``multiloss.keras.UncertaintyWeighting`` is a Keras
layer whose ``log_vars`` (one per task) are trainable weights; the model overrides
``compute_loss`` to combine the two task losses with it, so ``model.fit`` trains the
network and the weighting together, on any backend (``KERAS_BACKEND=jax|torch|tensorflow``).
Run: ``KERAS_BACKEND=jax python examples/multitask_keras.py`` (a few seconds on a CPU).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
from synthetic_data import make_data  # noqa: E402

import multiloss.keras as ml  # noqa: E402

EPOCHS, ROUNDS = 5, 3  # 4 batches per epoch: 60 steps in all


class TwoTaskModel(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.trunk = keras.layers.Dense(16, activation="tanh")
        self.regression_head = keras.layers.Dense(1)
        self.classification_head = keras.layers.Dense(3)
        self.weighting = ml.UncertaintyWeighting(2, task_types=["regression", "classification"])

    def call(self, x):
        h = self.trunk(x)
        return self.regression_head(h), self.classification_head(h)

    def task_losses(self, y, y_pred):
        (y_reg, labels), (prediction, logits) = y, y_pred
        mse = ml.mean_squared_error(y_reg, prediction, reduction="mean")
        ce = ml.cross_entropy(labels, logits, reduction="mean")
        return mse, ce

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return self.weighting(list(self.task_losses(y, y_pred)))


def report(model, step, x, y):
    mse, ce = model.task_losses(y, model(x))
    total = model.weighting([mse, ce])
    mse, ce, total = (float(keras.ops.convert_to_numpy(v)) for v in (mse, ce, total))
    print(f"step {step:3d}  mse {mse:.4f}  cross_entropy {ce:.4f}  total {total:.4f}")


def main():
    keras.utils.set_random_seed(0)
    x, y_reg, labels = make_data()
    y = (y_reg, labels)
    model = TwoTaskModel()
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    model(x[:1])  # builds the layers
    print("backend", keras.config.backend())
    report(model, 0, x, y)
    steps_per_epoch = len(x) // 64
    for round_ in range(1, ROUNDS + 1):
        model.fit(x, y, batch_size=64, epochs=EPOCHS, verbose=0)
        report(model, round_ * EPOCHS * steps_per_epoch, x, y)
    log_vars = keras.ops.convert_to_numpy(model.weighting.log_vars)
    print(f"log_vars (regression, classification): {log_vars[0]:.4f}, {log_vars[1]:.4f}")


if __name__ == "__main__":
    main()

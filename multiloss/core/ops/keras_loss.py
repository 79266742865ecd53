"""The pieces of Keras' ``Loss.__call__`` the Keras adapter reuses.

``multiloss.keras`` subclasses the public ``keras.losses.Loss`` but overrides
``__call__`` to keep integer labels integral (Keras casts ``y_true`` to the loss dtype,
which rounds class ids above 2048 in float16). It then finishes as Keras does: the mask
Keras attached to ``y_pred`` and Keras' weighting/reduction. Its unreduced losses carry
the mask of the entries they count, as Keras' own losses do (``set_keras_mask``). All
private Keras API, so taken here, behind the version gate of the ops layer.
"""

from __future__ import annotations

from typing import Any

from multiloss.core.ops.base import import_keras

import_keras()

from keras.src.backend import get_keras_mask, set_keras_mask  # noqa: E402
from keras.src.losses.loss import reduce_weighted_values  # noqa: E402

__all__ = ["get_keras_mask", "reduce_weighted_values", "set_keras_mask"]


def jsonable(value: Any) -> Any:
    """A parameter value as plain Python (lists for vectors and tensors) for a Keras
    ``get_config``."""
    import numpy as np

    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        import keras

        return keras.ops.convert_to_numpy(value).tolist()
    return value


"""``LinearCrossEntropyHead``: a Keras output layer over a large vocabulary whose training
loss is :func:`multiloss.keras.linear_cross_entropy` (the logits never formed whole)."""

from __future__ import annotations

from typing import Any

from multiloss.core.checks import check_int, check_static_scalar, check_vector
from multiloss.core.linear import check_chunk_size, check_softcap
from multiloss.core.ops import import_keras
from multiloss.core.ops.keras_loss import jsonable

keras = import_keras()


@keras.saving.register_keras_serializable(package="multiloss", name="LinearCrossEntropyHead")
class LinearCrossEntropyHead(keras.layers.Layer):
    """The output layer of a model over a large vocabulary (a language model's head).

    Holds the output weight ``kernel [V, D]`` (and ``bias [V]``). Called as
    ``head(hidden, labels)`` in training (``model.fit``), it adds the mean
    :func:`multiloss.keras.linear_cross_entropy` of ``hidden @ kernel.T + bias`` and
    ``labels`` to the model's losses (``add_loss``) and returns that scalar: the
    ``[N, V]`` logits and their gradient are never formed whole, only chunks of
    ``chunk_size`` classes at a time. Called outside training (``model.predict``,
    ``training=False``, or without labels) it returns the logits ``[..., V]`` (soft-capped
    as the loss sees them), or with ``top_k=k`` the pair ``(values, indices)`` of the
    ``k`` largest logits of each row (``keras.ops.top_k``).

    ``hidden`` is ``[..., D]`` (e.g. ``[batch, time, D]``) and ``labels`` its leading
    shape ``[...]`` of integer class ids; rows whose label is ``ignore_index`` count for
    nothing, nor do the rows a Keras mask on ``hidden`` hides (``Embedding(mask_zero=True)``
    upstream) or ``sample_weight`` (``[...]``) weighs 0 — the loss is the (weighted) mean
    over the rows that count. ``kernel`` has ``torch.nn.Linear.weight``'s ``[V, D]``
    layout (and ``keras.layers.Embedding.embeddings``'): the transpose of a ``Dense``
    kernel. Compile the model without a ``loss`` (the layer adds it); the layer's
    weights save and reload with the model (``model.save("m.keras")``)::

        tokens = keras.Input((None,), dtype="int32")
        labels = keras.Input((None,), dtype="int32")
        hidden = keras.layers.Embedding(50_000, 512, mask_zero=True)(tokens)
        hidden = keras.layers.LSTM(512, return_sequences=True)(hidden)
        output = multiloss.keras.LinearCrossEntropyHead(50_000, name="head")(hidden, labels)
        model = keras.Model([tokens, labels], output)
        model.compile(optimizer="adam")           # no loss: the head adds it
        model.fit([x, y], epochs=3)               # y: x shifted by one token
        logits = model.predict([x, y])            # [batch, time, 50 000]

    Args:
        vocabulary_size: ``V``, the number of classes.
        use_bias: whether the layer has a bias ``[V]`` (default ``False``, as most
            language-model heads).
        chunk_size, ignore_index, label_smoothing, class_weight, z_loss, logit_softcap:
            as :func:`multiloss.keras.linear_cross_entropy`.
        top_k: ``None`` (inference returns the logits) or ``k`` (``(values, indices)``).
        kernel_initializer, bias_initializer: Keras initializers.
        **kwargs: ``keras.layers.Layer``'s (``name``, ``dtype``, ``trainable``).
    """

    def __init__(
        self,
        vocabulary_size: int,
        *,
        use_bias: bool = False,
        chunk_size: int | None = None,
        ignore_index: int | None = None,
        label_smoothing: float = 0.0,
        class_weight: Any = None,
        z_loss: float = 0.0,
        logit_softcap: float | None = None,
        top_k: int | None = None,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        vocabulary_size = check_int("vocabulary_size", vocabulary_size)
        if vocabulary_size < 1:
            raise ValueError(f"vocabulary_size must be a positive int, got {vocabulary_size}")
        top_k = check_int("top_k", top_k, allow_none=True)
        if top_k is not None and not 1 <= top_k <= vocabulary_size:
            raise ValueError(
                f"top_k must be in [1, vocabulary_size={vocabulary_size}] (or None), got top_k={top_k}"
            )
        check_static_scalar("label_smoothing", label_smoothing, low=0.0, high=1.0)
        check_static_scalar("z_loss", z_loss, low=0.0)
        if class_weight is not None:
            check_vector("class_weight", class_weight, vocabulary_size, low=0.0,
                         what="vocabulary_size")
            class_weight = jsonable(class_weight)
        self.vocabulary_size = vocabulary_size
        self.use_bias = bool(use_bias)
        self.chunk_size = check_chunk_size(chunk_size)
        self.ignore_index = check_int("ignore_index", ignore_index, allow_none=True)
        self.label_smoothing = float(label_smoothing)
        self.class_weight = class_weight
        self.z_loss = float(z_loss)
        self.logit_softcap = check_softcap(logit_softcap)
        self.top_k = top_k
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.supports_masking = True

    def build(self, hidden_shape: Any) -> None:
        dim = hidden_shape[-1]
        if dim is None:
            raise ValueError(f"hidden's last dimension must be known, got hidden of shape {hidden_shape}")
        self.kernel = self.add_weight(
            name="kernel", shape=(self.vocabulary_size, dim), initializer=self.kernel_initializer
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(self.vocabulary_size,), initializer=self.bias_initializer
            )

    def logits(self, hidden: Any) -> Any:
        """``hidden @ kernel.T + bias`` ``[..., V]``, soft-capped as the loss sees them."""
        ops = keras.ops
        logits = ops.matmul(hidden, ops.transpose(ops.cast(self.kernel, hidden.dtype)))
        if self.bias is not None:
            logits = logits + ops.cast(self.bias, hidden.dtype)
        if self.logit_softcap is not None:
            logits = self.logit_softcap * ops.tanh(logits / self.logit_softcap)
        return logits

    def call(self, hidden, labels=None, sample_weight=None, training=None, hidden_mask=None):
        if labels is None or not training:
            logits = self.logits(hidden)
            return keras.ops.top_k(logits, self.top_k) if self.top_k else logits
        from multiloss import keras as multiloss_keras

        ops = keras.ops
        dim = self.kernel.shape[1]
        labels = ops.convert_to_tensor(labels)
        if "int" not in keras.backend.standardize_dtype(labels.dtype):
            labels = ops.cast(labels, "int32")  # Keras feeds labels as floats at times
        rows = ops.reshape(labels, (-1,))
        where = None if hidden_mask is None else ops.reshape(hidden_mask, (-1,))
        if sample_weight is not None:
            sample_weight = ops.reshape(
                ops.broadcast_to(ops.cast(sample_weight, hidden.dtype), ops.shape(labels)), (-1,)
            )
        loss = multiloss_keras.linear_cross_entropy(
            ops.reshape(hidden, (-1, dim)), self.kernel, rows,
            bias=self.bias, chunk_size=self.chunk_size, ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing, class_weight=self.class_weight,
            z_loss=self.z_loss, logit_softcap=self.logit_softcap,
            where=where, sample_weight=sample_weight, reduction="mean",
        )
        self.add_loss(loss)
        return loss

    def compute_output_spec(self, hidden, labels=None, sample_weight=None, training=None,
                            hidden_mask=None):
        shape = tuple(hidden.shape[:-1]) + (self.vocabulary_size,)
        if labels is not None and training:
            return keras.KerasTensor((), dtype=self.compute_dtype)
        if self.top_k:
            k_shape = shape[:-1] + (self.top_k,)
            return (keras.KerasTensor(k_shape, dtype=self.compute_dtype),
                    keras.KerasTensor(k_shape, dtype="int32"))
        return keras.KerasTensor(shape, dtype=self.compute_dtype)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({
            "vocabulary_size": self.vocabulary_size,
            "use_bias": self.use_bias,
            "chunk_size": self.chunk_size,
            "ignore_index": self.ignore_index,
            "label_smoothing": self.label_smoothing,
            "class_weight": self.class_weight,
            "z_loss": self.z_loss,
            "logit_softcap": self.logit_softcap,
            "top_k": self.top_k,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        })
        return config


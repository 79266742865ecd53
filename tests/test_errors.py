"""Bad input raises ``ValueError``/``TypeError`` naming the argument (and the shapes),
in every adapter, before any arithmetic."""

from __future__ import annotations

import re

import numpy as np
import pytest
from loss_cases import ADAPTERS_ONCE, all_case_params

from multiloss import core

LOGITS = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
TARGETS = np.eye(5, dtype=np.float32)[[1, 0, 4, 2]]
IDS = np.array([1, 0, 4, 2])

#: (id, loss, y_pred, y_true, params, exception, fragments the message must contain)
BAD_INPUTS = [
    ("bce_shape", "binary_cross_entropy", LOGITS, TARGETS[:, :3], {}, ValueError, ["y_true", "(4, 3)", "(4, 5)"]),
    ("ce_ids_shape", "cross_entropy", LOGITS, IDS[:3], {}, ValueError, ["y_true", "(3,)", "(4,)"]),
    ("ce_probs_shape", "cross_entropy", LOGITS, TARGETS[:, :4], {}, ValueError, ["y_true", "(4, 4)", "(4, 5)"]),
    ("label_too_large", "cross_entropy", LOGITS, np.array([1, 5, 0, 2]), {}, ValueError, ["y_true", "5", "[0, 5)"]),
    ("label_negative", "cross_entropy", LOGITS, np.array([1, -1, 0, 2]), {}, ValueError, ["y_true", "-1", "[0, 5)"]),
    ("label_vs_ignore", "cross_entropy", LOGITS, np.array([1, -100, 7, 2]), {"ignore_index": -100}, ValueError, ["y_true", "7", "ignore_index"]),
    ("bce_alpha_high", "binary_cross_entropy", LOGITS, TARGETS, {"alpha": 1.5}, ValueError, ["alpha", "1.5"]),
    ("focal_alpha_low", "sigmoid_focal_loss", LOGITS, TARGETS, {"alpha": -0.1}, ValueError, ["alpha", "-0.1"]),
    ("focal_gamma_negative", "sigmoid_focal_loss", LOGITS, TARGETS, {"gamma": -1.0}, ValueError, ["gamma", "-1"]),
    ("softmax_focal_gamma_negative", "softmax_focal_loss", LOGITS, IDS, {"gamma": -0.5}, ValueError, ["gamma", "-0.5"]),
    ("softmax_focal_alpha_length", "softmax_focal_loss", LOGITS, IDS, {"alpha": [0.25, 0.75]}, ValueError, ["alpha", "5", "(2,)"]),
    ("class_weight_length", "cross_entropy", LOGITS, IDS, {"class_weight": [1.0, 2.0, 3.0]}, ValueError, ["class_weight", "5", "(3,)"]),
    ("class_weight_2d", "cross_entropy", LOGITS, IDS, {"class_weight": np.ones((5, 1))}, ValueError, ["class_weight", "(5, 1)"]),
    ("axis_float", "cross_entropy", LOGITS, IDS, {"axis": 1.0}, TypeError, ["axis", "1.0"]),
    ("axis_out_of_range", "cross_entropy", LOGITS, IDS, {"axis": 2}, ValueError, ["axis", "2", "rank 2"]),
    ("label_smoothing_range", "cross_entropy", LOGITS, IDS, {"label_smoothing": 1.5}, ValueError, ["label_smoothing", "1.5"]),
    ("ignore_index_float", "cross_entropy", LOGITS, IDS, {"ignore_index": 1.5}, TypeError, ["ignore_index", "1.5"]),
    ("ignore_index_probs", "cross_entropy", LOGITS, TARGETS, {"ignore_index": 0}, ValueError, ["ignore_index"]),
    ("float_ids_not_whole", "cross_entropy", LOGITS, np.array([1.0, 0.5, 4.0, 2.0]), {}, ValueError, ["y_true", "0.5", "whole number"]),
    ("mse_shape", "mean_squared_error", LOGITS, LOGITS[:, :2], {}, ValueError, ["y_true", "(4, 2)", "(4, 5)"]),
    ("hinge_shape", "hinge_loss", LOGITS, TARGETS[:3], {}, ValueError, ["y_true", "(3, 5)", "(4, 5)"]),
    ("kl_shape", "kl_divergence", LOGITS, TARGETS[:, :4], {}, ValueError, ["y_true", "(4, 4)", "(4, 5)"]),
    ("pairwise_shape", "pairwise_hinge_loss", LOGITS, LOGITS[:2], {}, ValueError, ["neg_score", "(2, 5)", "(4, 5)"]),
    ("circle_rows", "circle_loss", LOGITS, LOGITS[:3], {}, ValueError, ["sp", "sn", "(4, 5)", "(3, 5)"]),
    ("batch_circle_rank", "batch_circle_loss", LOGITS[0], IDS, {}, ValueError, ["y_pred", "[B, D]", "(5,)"]),
    ("poly_epsilon_low", "poly1_cross_entropy", LOGITS, IDS, {"epsilon": -2.0}, ValueError, ["epsilon", "-2"]),
    ("poly_focal_form", "poly1_focal_loss", LOGITS, TARGETS, {"focal": "tanh"}, ValueError, ["focal", "'tanh'"]),
    ("normalizer_negative", "sigmoid_focal_loss", LOGITS, TARGETS, {"normalizer": -3.0}, ValueError, ["normalizer", "-3"]),
    # where= and sample_weight= (every loss with a reduction)
    ("where_not_broadcast", "cross_entropy", LOGITS, IDS, {"where": np.ones(3, bool)}, ValueError, ["where", "(3,)", "(4,)"]),
    ("where_too_large", "binary_cross_entropy", LOGITS, TARGETS, {"where": np.ones((2, 4, 5), bool)}, ValueError, ["where", "(2, 4, 5)", "(4, 5)"]),
    ("where_float", "softmax_focal_loss", LOGITS, IDS, {"where": np.ones(4, np.float32)}, TypeError, ["where", "boolean", "float32", "(4,)"]),
    ("weight_not_broadcast", "sigmoid_focal_loss", LOGITS, TARGETS, {"sample_weight": np.ones((4, 3), np.float32)}, ValueError, ["sample_weight", "(4, 3)", "(4, 5)"]),
    ("weight_negative", "cross_entropy", LOGITS, IDS, {"sample_weight": np.array([1.0, -0.5, 1.0, 1.0], np.float32)}, ValueError, ["sample_weight", ">= 0", "-0.5", "(4,)"]),
    ("weight_bool", "mean_squared_error", LOGITS, LOGITS, {"sample_weight": np.ones(4, bool)}, TypeError, ["sample_weight", "bool", "(4,)"]),
    ("global_mean_misspelt", "cross_entropy", LOGITS, IDS, {"reduction": "global-mean"}, ValueError, ["reduction", "'global-mean'", "global_mean"]),
]


def _raises(exception, fragments):
    return pytest.raises(exception, match="(?s)" + "".join(f"(?=.*{re.escape(f)})" for f in fragments))


@pytest.mark.parametrize("adapter", ADAPTERS_ONCE, indirect=True)
@pytest.mark.parametrize(
    "loss, y_pred, y_true, params, exception, fragments",
    [pytest.param(*case[1:], id=case[0]) for case in BAD_INPUTS],
)
def test_bad_input_names_the_argument(adapter, loss, y_pred, y_true, params, exception, fragments):
    if loss not in core.registry():
        pytest.skip(f"{loss} is not registered yet")
    with _raises(exception, fragments):
        adapter.call(loss, y_pred, y_true, **params)


@pytest.mark.parametrize("adapter", ADAPTERS_ONCE, indirect=True)
@pytest.mark.parametrize("case", all_case_params())
def test_unknown_reduction_is_refused_by_every_loss(adapter, case):
    if not core.get_spec(case.loss).has_reduction:
        pytest.skip(f"{case.loss} has no reduction")
    with _raises(ValueError, ["reduction", "'avg'"]):
        adapter.call(case.loss, *case.arrays, reduction="avg", **case.params)


@pytest.mark.parametrize("adapter", ["keras", "torch"], indirect=True)
def test_class_forms_check_their_parameters(adapter):
    def call(loss, y_pred, y_true):
        pred, true = adapter.tensor(y_pred), adapter.tensor(y_true)
        return loss(true, pred) if adapter.name == "keras" else loss(pred, true)

    with _raises(ValueError, ["class_weight", "5", "(2,)"]):
        call(adapter.module.CrossEntropy(class_weight=[1.0, 2.0]), LOGITS, IDS)
    with _raises(ValueError, ["y_true", "5", "[0, 5)"]):
        call(adapter.module.CrossEntropy(), LOGITS, np.array([5, 0, 1, 2]))


@pytest.mark.cross_framework
def test_tensorflow_input_of_unknown_rank_gets_a_clear_error():
    import tensorflow as tf

    import multiloss.tensorflow as ml

    spec = [tf.TensorSpec(None, tf.float32), tf.TensorSpec(None, tf.int32)]
    traced = tf.function(lambda x, y: ml.cross_entropy(x, y), input_signature=spec)
    with pytest.raises(ValueError, match="unknown rank"):
        traced(tf.zeros((2, 3)), tf.zeros((2,), tf.int32))

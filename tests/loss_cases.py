"""Small generic inputs for every registered loss, from registry introspection.

A loss is covered when its tensor arguments form a signature listed here (most losses
take ``(y_pred, y_true)``; the inputs then follow the loss ``kind``). A loss with an
unknown signature gets no case and the tests that iterate the registry skip it,
naming the arguments; the issue-2 losses must always have cases
(``test_cross_framework.py`` checks it).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from multiloss import core

#: Softmax-type losses that also take integer class ids for ``y_true``.
INTEGER_LABEL_LOSSES = {
    "cross_entropy": {},
    "softmax_focal_loss": {},
    "poly1_cross_entropy": {},
    "poly1_focal_loss": {"focal": "softmax"},
    "categorical_hinge_loss": {},
    "multi_margin_loss": {},
}
#: ``(y_pred, y_true)`` losses on L2-normalised embeddings [B, D] and integer labels [B].
EMBEDDING_LOSSES = ("batch_circle_loss",)
#: ``(y_pred, y_true)`` losses on cosine logits [B, C] in [-1, 1] and integer labels [B].
COSINE_LOGIT_LOSSES = ("arcface_loss", "cosface_loss")
#: Learning-to-rank losses: scores [B, L] and graded relevance labels [B, L] (each list
#: with a relevant item and ties).
RANKING_LOSSES = ("softmax_ranking_loss", "pairwise_logistic_loss", "listmle_loss")
#: ``(y_pred, y_true)`` losses on pair distances >= 0 and {0, 1} pair labels.
PAIR_DISTANCE_LOSSES = ("contrastive_loss",)
#: ``(y_pred, y_true)`` losses of two sets of logits [B, C] (student and teacher, or
#: two distributions).
LOGIT_PAIR_LOSSES = ("distillation_loss", "js_divergence")
#: ``(y_pred, y_true)`` losses on boxes [B, 4] (valid ``"xyxy"`` corners).
BOX_LOSSES = ("iou_loss", "giou_loss", "diou_loss", "ciou_loss")
#: Segmentation losses: channel-last logits [B, H, W, C] and targets [B, H, W] (ids, or
#: {0, 1} for the hinge on logits [B, H, W]); the overlap ones also one-hot targets.
SEGMENTATION_LOSSES = {
    "dice_loss": ("ids", "one_hot"),
    "jaccard_loss": ("ids", "one_hot"),
    "lovasz_softmax_loss": ("ids",),
    "lovasz_hinge_loss": ("binary",),
}
#: Losses every test that iterates the registry must cover (issue 2).
ISSUE_2_LOSSES = (
    "cross_entropy",
    "binary_cross_entropy",
    "sigmoid_focal_loss",
    "softmax_focal_loss",
    "poly1_cross_entropy",
    "poly1_focal_loss",
)


@dataclasses.dataclass
class Case:
    loss: str
    arrays: tuple
    params: dict
    label: str

    @property
    def id(self) -> str:
        return f"{self.loss}-{self.label}"

    @property
    def float_args(self) -> tuple[int, ...]:
        """Positions of the floating arguments (cast to the dtype under test)."""
        return tuple(i for i, a in enumerate(self.arrays) if a.dtype.kind == "f")

    @property
    def grad_args(self) -> tuple[int, ...]:
        """Positions of the floating arguments that are not targets (differentiated)."""
        names = core.get_spec(self.loss).tensors
        return tuple(i for i in self.float_args if names[i] != "y_true")


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(sum(map(ord, name)))


def _inputs(spec: core.LossSpec, rng: np.random.Generator) -> list[tuple[str, tuple, dict]]:
    """``[(label, arrays, params)]`` for one loss, or ``[]`` for an unknown signature."""
    logits = rng.normal(scale=2.0, size=(4, 5)).astype(np.float32)
    ids = np.array([1, 0, 4, 2])
    if spec.name in EMBEDDING_LOSSES:
        embeddings = rng.normal(size=(6, 4)).astype(np.float32)
        embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
        return [("embeddings", (embeddings, np.array([0, 0, 1, 1, 2, 2])), {})]
    if spec.name in COSINE_LOGIT_LOSSES:
        cosines = rng.uniform(-1.0, 1.0, size=(4, 5)).astype(np.float32)
        return [("cosines", (cosines, ids), {})]
    if spec.name in RANKING_LOSSES:
        grades = np.array([[2, 0, 1, 0, 0], [0, 3, 3, 1, 0], [1, 1, 0, 2, 0], [0, 0, 1, 0, 0]])
        return [("graded", (logits, grades.astype(np.float32)), {})]
    if spec.name in PAIR_DISTANCE_LOSSES:
        distances = rng.uniform(0.0, 2.0, size=(4, 5)).astype(np.float32)
        return [("distances", (distances, (rng.random((4, 5)) > 0.5).astype(np.float32)), {})]
    if spec.name in LOGIT_PAIR_LOSSES:
        return [("logit_pair", (logits, rng.normal(scale=2.0, size=(4, 5)).astype(np.float32)), {})]
    if spec.name in BOX_LOSSES:
        corners = rng.uniform(0.0, 4.0, size=(2, 4, 2))
        sizes = rng.uniform(0.5, 3.0, size=(2, 4, 2))
        pred, true = np.concatenate([corners, corners + sizes], axis=-1).astype(np.float32)
        return [("boxes", (pred, true), {})]
    if spec.name in SEGMENTATION_LOSSES:
        images = rng.normal(scale=2.0, size=(2, 3, 4, 3)).astype(np.float32)
        pixel_ids = rng.integers(0, 3, size=(2, 3, 4))
        targets = {
            "ids": (images, pixel_ids),
            "one_hot": (images, np.eye(3, dtype=np.float32)[pixel_ids]),
            "binary": (images[..., 0], (pixel_ids > 0).astype(np.float32)),
        }
        return [(kind, targets[kind], {}) for kind in SEGMENTATION_LOSSES[spec.name]]
    if spec.tensors == ("y_pred", "y_true"):
        if spec.kind == "elementwise":
            targets = (rng.random((4, 5)) > 0.5).astype(np.float32)
            cases = [("binary", (logits, targets), {})]
        elif spec.kind == "per_example":
            one_hot = np.eye(5, dtype=np.float32)[ids]
            cases = [("one_hot", (logits, one_hot), {})]
        else:
            return []
        if spec.name in INTEGER_LABEL_LOSSES:
            cases.append(("ids", (logits, ids), dict(INTEGER_LABEL_LOSSES[spec.name])))
        return cases
    if spec.tensors == ("y_pred", "y_true", "var"):  # gaussian_nll_loss
        var = rng.uniform(0.5, 2.0, size=(4, 5)).astype(np.float32)
        target = rng.normal(size=(4, 5)).astype(np.float32)
        return [("per_entry_var", (logits, target, var), {}),
                ("per_example_var", (logits, target, var[:, :1].copy()), {})]
    if spec.tensors == ("y_pred", "y_true", "pred_lengths", "label_lengths"):  # ctc_loss
        # every frame counted (NaN in any logit must reach the loss); a repeated label,
        # an empty label sequence
        frames = rng.normal(scale=2.0, size=(3, 6, 5)).astype(np.float32)
        labels = np.array([[1, 2, 2], [4, 3, 0], [0, 0, 0]])
        return [("sequences", (frames, labels, np.array([6, 6, 6]), np.array([3, 2, 0])), {})]
    if spec.tensors == ("anchor", "positive", "negative"):  # triplet_margin_loss
        return [("triplets", tuple(rng.normal(size=(3, 4, 5)).astype(np.float32)), {})]
    if spec.tensors == ("embeddings", "labels"):  # every anchor with a positive
        embeddings = rng.normal(size=(6, 4)).astype(np.float32)
        return [("embeddings", (embeddings, np.array([0, 1, 0, 2, 1, 2])), {})]
    if spec.tensors == ("image_embeddings", "text_embeddings"):  # clip_loss
        return [("pairs", tuple(rng.normal(size=(2, 5, 4)).astype(np.float32)), {})]
    if spec.tensors == ("y_true", "epsilon"):
        return [("smooth", (np.eye(5, dtype=np.float32)[ids], np.float32(0.1)), {})]
    if spec.tensors == ("sp", "sn"):
        sp = rng.uniform(-1, 1, size=(4, 3)).astype(np.float32)
        sn = rng.uniform(-1, 1, size=(4, 5)).astype(np.float32)
        return [("pairs", (sp, sn), {})]
    if spec.tensors == ("pos_score", "neg_score"):
        return [("scores", tuple(rng.normal(size=(2, 6)).astype(np.float32)), {})]
    if spec.tensors == ("hidden", "weight", "labels"):
        hidden = rng.normal(size=(6, 4)).astype(np.float32)
        weight = rng.normal(size=(7, 4)).astype(np.float32)
        return [("linear", (hidden, weight, np.array([0, 6, 3, 3, 1, 5])), {})]
    if spec.tensors == ("losses", "log_vars"):
        losses = rng.uniform(0.5, 2.0, size=3).astype(np.float32)
        return [("tasks", (losses, rng.normal(size=3).astype(np.float32)), {})]
    if spec.tensors == ("kpis",):
        return [("kpis", (rng.uniform(0.1, 0.9, size=3).astype(np.float32),), {})]
    return []


def cases_for(name: str) -> list[Case]:
    spec = core.get_spec(name)
    return [Case(name, arrays, params, label) for label, arrays, params in _inputs(spec, _rng(name))]


def all_case_params() -> list:
    """``pytest.param`` per case of every registered loss (a skip for unknown signatures)."""
    params = []
    for name, spec in sorted(core.registry().items()):
        cases = cases_for(name)
        if not cases:
            params.append(pytest.param(
                None, id=name,
                marks=pytest.mark.skip(reason=f"no generic inputs for {name}{spec.tensors}"),
            ))
        params += [pytest.param(case, id=case.id) for case in cases]
    return params


#: For ``@pytest.mark.parametrize("adapter", ADAPTERS_ONCE, indirect=True)``: the Keras
#: adapter in every per-backend session; torch, jax and tensorflow (the same in every
#: session) only in the ``cross_framework`` one.
ADAPTERS_ONCE = [pytest.param("keras", id="keras")] + [
    pytest.param(name, id=name, marks=pytest.mark.cross_framework)
    for name in ("torch", "jax", "tensorflow")
]


def assert_value_and_grads(adapter, loss, arrays, want, want_grads, wrt, tol, **params):
    """``adapter``'s value of ``loss`` and its gradients at ``wrt`` equal the references
    within ``tol`` (``assert_allclose`` keywords)."""
    value, grads = adapter.value_and_grad(loss, *arrays, wrt=wrt, **params)
    np.testing.assert_allclose(value, want, **tol)
    for got, expected in zip(grads, want_grads, strict=True):
        np.testing.assert_allclose(got, expected, **tol)

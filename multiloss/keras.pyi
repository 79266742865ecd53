# Generated from the loss registry by `python -m multiloss._stubs`: do not edit.
# The module builds these names at run time; this file shows them to type checkers.

from typing import Any

import keras

from multiloss._keras_head import LinearCrossEntropyHead as LinearCrossEntropyHead
from multiloss.core.registry import LossSpec, StatefulSpec

__all__ = ['ArcFaceLoss', 'BatchCircleLoss', 'BinaryCrossEntropy', 'CIoULoss', 'CLIPLoss', 'CTCLoss', 'CategoricalHingeLoss', 'CircleLoss', 'ContrastiveLoss', 'CosFaceLoss', 'CosineDistance', 'CrossEntropy', 'DIoULoss', 'DiceLoss', 'DistillationLoss', 'DynamicTaskPriority', 'DynamicWeightAverage', 'GIoULoss', 'GaussianNLLLoss', 'HingeLoss', 'HuberLoss', 'IoULoss', 'JSDivergence', 'JaccardLoss', 'KLDivergence', 'KlDivergence', 'LinearCrossEntropyHead', 'ListMLELoss', 'LogCoshLoss', 'LovaszHingeLoss', 'LovaszSoftmaxLoss', 'MeanAbsoluteError', 'MeanSquaredError', 'MultiMarginLoss', 'NTXentLoss', 'PairwiseHingeLoss', 'PairwiseLogisticLoss', 'PoissonNLLLoss', 'Poly1CrossEntropy', 'Poly1FocalLoss', 'QuantileLoss', 'SigmoidFocalLoss', 'SmoothL1Loss', 'SoftmaxFocalLoss', 'SoftmaxRankingLoss', 'SquaredHingeLoss', 'SupervisedContrastiveLoss', 'TripletMarginLoss', 'UncertaintyWeighting', 'arcface_loss', 'batch_circle_loss', 'binary_cross_entropy', 'categorical_hinge_loss', 'ciou_loss', 'circle_loss', 'clip_loss', 'contrastive_loss', 'cosface_loss', 'cosine_distance', 'cross_entropy', 'ctc_loss', 'dice_loss', 'diou_loss', 'distillation_loss', 'gaussian_nll_loss', 'giou_loss', 'hinge_loss', 'huber_loss', 'iou_loss', 'jaccard_loss', 'js_divergence', 'kl_divergence', 'linear_cross_entropy', 'listmle_loss', 'log_cosh_loss', 'log_uniform_candidate_sampler', 'lovasz_hinge_loss', 'lovasz_softmax_loss', 'mean_absolute_error', 'mean_squared_error', 'multi_margin_loss', 'nce_loss', 'ntxent_loss', 'pairwise_hinge_loss', 'pairwise_logistic_loss', 'poisson_nll_loss', 'poly1_cross_entropy', 'poly1_focal_loss', 'quantile_loss', 'sampled_softmax_loss', 'sigmoid_focal_loss', 'smooth_l1_loss', 'smooth_labels', 'softmax_focal_loss', 'softmax_ranking_loss', 'squared_hinge_loss', 'supervised_contrastive_loss', 'task_priority_weights', 'triplet_margin_loss', 'uncertainty_weighting']

class MultilossLoss(keras.losses.Loss):
    spec: LossSpec
    params: dict[str, Any]
    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = ...) -> Any: ...
    def call(self, y_true: Any, y_pred: Any) -> Any: ...
    def get_config(self) -> dict[str, Any]: ...

class MultilossLayer(keras.layers.Layer):
    spec: StatefulSpec
    config: dict[str, Any]
    def get_config(self) -> dict[str, Any]: ...

def arcface_loss(y_true: Any, y_pred: Any, *, scale: Any = ..., margin: Any = ..., easy_margin: bool = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """ArcFace: additive angular margin loss, Deng et al. 2019."""

def batch_circle_loss(y_true: Any, y_pred: Any, *, margin: Any = ..., gamma: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """Circle loss, class-level form on a batch of embeddings."""

def binary_cross_entropy(y_true: Any, y_pred: Any, *, from_logits: bool = ..., alpha: Any = ..., label_smoothing: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """Sigmoid (binary, multi-label) cross entropy, element-wise."""

def categorical_hinge_loss(y_true: Any, y_pred: Any, *, where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """Multi-class (Crammer–Singer) hinge loss per example: the target score should beat every other score by a margin of 1."""

def ciou_loss(y_true: Any, y_pred: Any, *, box_format: str = ..., eps: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """Complete IoU loss: the DIoU loss plus a penalty on the difference of the boxes' aspect ratios."""

def circle_loss(sp: Any, sn: Any, *, margin: Any = ..., gamma: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """Circle loss, pair form (Sun et al. 2020, eq. 6)."""

def clip_loss(image_embeddings: Any, text_embeddings: Any, *, temperature: Any = ..., normalize: bool = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """CLIP's symmetric contrastive loss (Radford et al. 2021), per pair."""

def contrastive_loss(y_true: Any, y_pred: Any, *, margin: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """Contrastive loss of pair distances (Hadsell et al. 2006), per pair."""

def cosface_loss(y_true: Any, y_pred: Any, *, scale: Any = ..., margin: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """CosFace: large margin cosine loss (LMCL), Wang et al. 2018."""

def cosine_distance(y_true: Any, y_pred: Any, *, axis: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """Cosine distance: one minus the cosine similarity of the vectors along ``axis``."""

def cross_entropy(y_true: Any, y_pred: Any, *, from_logits: bool = ..., class_weight: Any = ..., ignore_index: Any = ..., label_smoothing: Any = ..., z_loss: Any = ..., logit_softcap: Any = ..., axis: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """Softmax cross entropy."""

def ctc_loss(y_true: Any, y_pred: Any, pred_lengths: Any, label_lengths: Any, *, blank: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """Connectionist temporal classification loss, one value per sequence."""

def dice_loss(y_true: Any, y_pred: Any, *, from_logits: bool = ..., smooth: Any = ..., alpha: Any = ..., beta: Any = ..., class_weight: Any = ..., ignore_index: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """Soft Dice loss (Tversky loss for other α, β), per image."""

def diou_loss(y_true: Any, y_pred: Any, *, box_format: str = ..., eps: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """Distance IoU loss: the IoU loss plus the squared distance of the box centres over the squared diagonal of the smallest enclosing box."""

def distillation_loss(y_true: Any, y_pred: Any, *, temperature: Any = ..., axis: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """Knowledge distillation loss (Hinton et al. 2015) per example: the KL divergence from the teacher's softened distribution to the student's, times :math:`T^2`."""

def gaussian_nll_loss(y_true: Any, y_pred: Any, var: Any, *, full: bool = ..., eps: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """Gaussian negative log-likelihood with predicted variances, averaged over the last axis per example."""

def giou_loss(y_true: Any, y_pred: Any, *, box_format: str = ..., eps: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """Generalized IoU loss: the IoU loss plus the share of the smallest enclosing box that neither box covers."""

def hinge_loss(y_true: Any, y_pred: Any, *, where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """Hinge loss, averaged over the last axis per example."""

def huber_loss(y_true: Any, y_pred: Any, *, delta: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """Huber loss, averaged over the last axis per example."""

def iou_loss(y_true: Any, y_pred: Any, *, box_format: str = ..., eps: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """IoU loss: one minus the intersection over union of each predicted box and its target."""

def jaccard_loss(y_true: Any, y_pred: Any, *, from_logits: bool = ..., smooth: Any = ..., class_weight: Any = ..., ignore_index: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """Soft Jaccard (IoU) loss, per image: :func:`dice_loss` with α = β = 1."""

def js_divergence(y_true: Any, y_pred: Any, *, from_logits: bool = ..., axis: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """Jensen-Shannon divergence between two class distributions per example (natural log, so values lie in :math:`[0, \\log 2]`)."""

def kl_divergence(y_true: Any, y_pred: Any, *, from_logits: bool = ..., axis: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """Kullback-Leibler divergence KL(y_true ‖ softmax(y_pred)) per example."""

def linear_cross_entropy(hidden: Any, weight: Any, labels: Any, *, bias: Any = ..., chunk_size: Any = ..., ignore_index: Any = ..., label_smoothing: Any = ..., class_weight: Any = ..., z_loss: Any = ..., logit_softcap: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """Softmax cross entropy of the logits ``hidden @ weight.T + bias``, never formed whole."""

def listmle_loss(y_true: Any, y_pred: Any, *, where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """ListMLE loss, per list: the Plackett–Luce negative log-likelihood of the permutation :math:`\\pi` that sorts the labels in decreasing order."""

def log_cosh_loss(y_true: Any, y_pred: Any, *, where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """Log-cosh loss, averaged over the last axis per example."""

def log_uniform_candidate_sampler(true_classes: Any, num_true: Any, num_sampled: Any, unique: Any, range_max: Any, *, seed: Any = ...) -> Any:
    """Sample classes from the log-uniform (Zipfian) distribution over ``[0, range_max)``."""

def lovasz_hinge_loss(y_true: Any, y_pred: Any, *, ignore_index: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """Lovász hinge loss (binary segmentation), per image: the Lovász extension of the foreground's Jaccard loss applied to hinge errors."""

def lovasz_softmax_loss(y_true: Any, y_pred: Any, *, from_logits: bool = ..., ignore_index: Any = ..., classes: str = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """Lovász-Softmax loss, per image: a convex surrogate of the Jaccard loss (1 − IoU) of each class, averaged over the classes."""

def mean_absolute_error(y_true: Any, y_pred: Any, *, where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """Mean absolute error, averaged over the last axis per example."""

def mean_squared_error(y_true: Any, y_pred: Any, *, where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """Mean squared error, averaged over the last axis per example."""

def multi_margin_loss(y_true: Any, y_pred: Any, *, p: Any = ..., margin: Any = ..., class_weight: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """Multi-class margin loss (Weston–Watkins) per example: every other score is penalised for coming within ``margin`` of the target score."""

def nce_loss(weights: Any, biases: Any, labels: Any, inputs: Any, num_sampled: Any, num_classes: Any, *, num_true: Any = ..., sampled_values: Any = ..., remove_accidental_hits: bool = ..., seed: Any = ...) -> Any:
    """Noise-contrastive estimation: logistic regression of true against sampled classes."""

def ntxent_loss(labels: Any, embeddings: Any, *, temperature: Any = ...) -> Any:
    """Normalized temperature-scaled cross entropy (NT-Xent), the mean over the positive pairs of a batch."""

def pairwise_hinge_loss(pos_score: Any, neg_score: Any, *, margin: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """Pairwise (margin ranking) hinge loss: a positive should outscore its negative."""

def pairwise_logistic_loss(y_true: Any, y_pred: Any, *, where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """Pairwise logistic loss (RankNet), per list: the mean over the list's items of each item's logistic losses against the items it should outrank."""

def poisson_nll_loss(y_true: Any, y_pred: Any, *, log_input: bool = ..., full: bool = ..., eps: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """Poisson negative log-likelihood, averaged over the last axis per example."""

def poly1_cross_entropy(y_true: Any, y_pred: Any, *, epsilon: Any = ..., label_smoothing: Any = ..., axis: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """Poly-1 cross entropy, Leng et al. 2022."""

def poly1_focal_loss(y_true: Any, y_pred: Any, *, epsilon: Any = ..., alpha: Any = ..., gamma: Any = ..., focal: str = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """Poly-1 focal loss, Leng et al. 2022, in the sigmoid or the softmax form."""

def quantile_loss(y_true: Any, y_pred: Any, *, quantile: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """Quantile (pinball) loss, averaged over the last axis per example."""

def sampled_softmax_loss(weights: Any, biases: Any, labels: Any, inputs: Any, num_sampled: Any, num_classes: Any, *, num_true: Any = ..., sampled_values: Any = ..., remove_accidental_hits: bool = ..., seed: Any = ..., label_smoothing: Any = ...) -> Any:
    """Sampled softmax: the softmax cross-entropy over the true and sampled classes only."""

def sigmoid_focal_loss(y_true: Any, y_pred: Any, *, alpha: Any = ..., gamma: Any = ..., from_logits: bool = ..., normalizer: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """Sigmoid focal loss (element-wise, multi-label), Lin et al. 2017."""

def smooth_l1_loss(y_true: Any, y_pred: Any, *, beta: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """Smooth L1 loss (Fast R-CNN), averaged over the last axis per example."""

def smooth_labels(y_true: Any, epsilon: Any) -> Any:
    """Label smoothing: mix one-hot (or soft) targets with the uniform distribution."""

def softmax_focal_loss(y_true: Any, y_pred: Any, *, alpha: Any = ..., gamma: Any = ..., from_logits: bool = ..., ignore_index: Any = ..., axis: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """Multi-class (softmax) focal loss, Lin et al. 2017."""

def softmax_ranking_loss(y_true: Any, y_pred: Any, *, where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """Softmax ranking loss (listwise cross entropy), per list."""

def squared_hinge_loss(y_true: Any, y_pred: Any, *, where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """Squared hinge loss, averaged over the last axis per example."""

def supervised_contrastive_loss(labels: Any, embeddings: Any, *, temperature: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """Supervised contrastive loss (Khosla et al. 2020, :math:`\\mathcal{L}^{sup}_{out}`), per anchor."""

def task_priority_weights(kpis: Any, *, gamma: Any = ...) -> Any:
    """Dynamic Task Prioritization weights (Guo et al. 2018), focal-loss style."""

def triplet_margin_loss(anchor: Any, positive: Any, negative: Any, *, margin: Any = ..., p: Any = ..., eps: Any = ..., swap: bool = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> Any:
    """Triplet margin loss, per triplet."""

def uncertainty_weighting(losses: Any, log_vars: Any, *, task_types: Any = ..., convention: str = ...) -> Any:
    """Homoscedastic uncertainty weighting of task losses (Kendall et al. 2018)."""

class ArcFaceLoss(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.arcface_loss`: ``loss_fn = ArcFaceLoss(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, scale: Any = ..., margin: Any = ..., easy_margin: bool = ..., reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class BatchCircleLoss(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.batch_circle_loss`: ``loss_fn = BatchCircleLoss(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, margin: Any = ..., gamma: Any = ..., reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class BinaryCrossEntropy(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.binary_cross_entropy`: ``loss_fn = BinaryCrossEntropy(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, from_logits: bool = ..., alpha: Any = ..., label_smoothing: Any = ..., reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class CategoricalHingeLoss(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.categorical_hinge_loss`: ``loss_fn = CategoricalHingeLoss(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class CIoULoss(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.ciou_loss`: ``loss_fn = CIoULoss(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, box_format: str = ..., eps: Any = ..., reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class CircleLoss(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.circle_loss`: ``loss_fn = CircleLoss(...)``, then ``loss_fn(sp, sn, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, margin: Any = ..., gamma: Any = ..., reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class CLIPLoss(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.clip_loss`: ``loss_fn = CLIPLoss(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, temperature: Any = ..., normalize: bool = ..., reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class ContrastiveLoss(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.contrastive_loss`: ``loss_fn = ContrastiveLoss(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, margin: Any = ..., reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class CosFaceLoss(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.cosface_loss`: ``loss_fn = CosFaceLoss(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, scale: Any = ..., margin: Any = ..., reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class CosineDistance(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.cosine_distance`: ``loss_fn = CosineDistance(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, axis: Any = ..., reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class CrossEntropy(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.cross_entropy`: ``loss_fn = CrossEntropy(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, from_logits: bool = ..., class_weight: Any = ..., ignore_index: Any = ..., label_smoothing: Any = ..., z_loss: Any = ..., logit_softcap: Any = ..., axis: Any = ..., reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class CTCLoss(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.ctc_loss`: ``loss_fn = CTCLoss(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, blank: Any = ..., reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class DiceLoss(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.dice_loss`: ``loss_fn = DiceLoss(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, from_logits: bool = ..., smooth: Any = ..., alpha: Any = ..., beta: Any = ..., class_weight: Any = ..., ignore_index: Any = ..., reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class DIoULoss(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.diou_loss`: ``loss_fn = DIoULoss(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, box_format: str = ..., eps: Any = ..., reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class DistillationLoss(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.distillation_loss`: ``loss_fn = DistillationLoss(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, temperature: Any = ..., axis: Any = ..., reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class GaussianNLLLoss(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.gaussian_nll_loss`: ``loss_fn = GaussianNLLLoss(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, full: bool = ..., eps: Any = ..., reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class GIoULoss(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.giou_loss`: ``loss_fn = GIoULoss(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, box_format: str = ..., eps: Any = ..., reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class HingeLoss(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.hinge_loss`: ``loss_fn = HingeLoss(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class HuberLoss(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.huber_loss`: ``loss_fn = HuberLoss(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, delta: Any = ..., reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class IoULoss(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.iou_loss`: ``loss_fn = IoULoss(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, box_format: str = ..., eps: Any = ..., reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class JaccardLoss(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.jaccard_loss`: ``loss_fn = JaccardLoss(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, from_logits: bool = ..., smooth: Any = ..., class_weight: Any = ..., ignore_index: Any = ..., reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class JSDivergence(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.js_divergence`: ``loss_fn = JSDivergence(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, from_logits: bool = ..., axis: Any = ..., reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class KLDivergence(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.kl_divergence`: ``loss_fn = KLDivergence(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, from_logits: bool = ..., axis: Any = ..., reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class ListMLELoss(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.listmle_loss`: ``loss_fn = ListMLELoss(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class LogCoshLoss(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.log_cosh_loss`: ``loss_fn = LogCoshLoss(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class LovaszHingeLoss(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.lovasz_hinge_loss`: ``loss_fn = LovaszHingeLoss(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, ignore_index: Any = ..., reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class LovaszSoftmaxLoss(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.lovasz_softmax_loss`: ``loss_fn = LovaszSoftmaxLoss(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, from_logits: bool = ..., ignore_index: Any = ..., classes: str = ..., reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class MeanAbsoluteError(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.mean_absolute_error`: ``loss_fn = MeanAbsoluteError(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class MeanSquaredError(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.mean_squared_error`: ``loss_fn = MeanSquaredError(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class MultiMarginLoss(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.multi_margin_loss`: ``loss_fn = MultiMarginLoss(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, p: Any = ..., margin: Any = ..., class_weight: Any = ..., reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class NTXentLoss(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.ntxent_loss`: ``loss_fn = NTXentLoss(...)``, then ``loss_fn(labels, embeddings, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, temperature: Any = ..., reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class PairwiseHingeLoss(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.pairwise_hinge_loss`: ``loss_fn = PairwiseHingeLoss(...)``, then ``loss_fn(pos_score, neg_score, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, margin: Any = ..., reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class PairwiseLogisticLoss(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.pairwise_logistic_loss`: ``loss_fn = PairwiseLogisticLoss(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class PoissonNLLLoss(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.poisson_nll_loss`: ``loss_fn = PoissonNLLLoss(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, log_input: bool = ..., full: bool = ..., eps: Any = ..., reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class Poly1CrossEntropy(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.poly1_cross_entropy`: ``loss_fn = Poly1CrossEntropy(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, epsilon: Any = ..., label_smoothing: Any = ..., axis: Any = ..., reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class Poly1FocalLoss(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.poly1_focal_loss`: ``loss_fn = Poly1FocalLoss(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, epsilon: Any = ..., alpha: Any = ..., gamma: Any = ..., focal: str = ..., reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class QuantileLoss(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.quantile_loss`: ``loss_fn = QuantileLoss(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, quantile: Any = ..., reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class SigmoidFocalLoss(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.sigmoid_focal_loss`: ``loss_fn = SigmoidFocalLoss(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, alpha: Any = ..., gamma: Any = ..., from_logits: bool = ..., normalizer: Any = ..., reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class SmoothL1Loss(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.smooth_l1_loss`: ``loss_fn = SmoothL1Loss(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, beta: Any = ..., reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class SoftmaxFocalLoss(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.softmax_focal_loss`: ``loss_fn = SoftmaxFocalLoss(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, alpha: Any = ..., gamma: Any = ..., from_logits: bool = ..., ignore_index: Any = ..., axis: Any = ..., reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class SoftmaxRankingLoss(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.softmax_ranking_loss`: ``loss_fn = SoftmaxRankingLoss(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class SquaredHingeLoss(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.squared_hinge_loss`: ``loss_fn = SquaredHingeLoss(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class SupervisedContrastiveLoss(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.supervised_contrastive_loss`: ``loss_fn = SupervisedContrastiveLoss(...)``, then ``loss_fn(labels, embeddings, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, temperature: Any = ..., reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

class TripletMarginLoss(MultilossLoss):
    """``keras.losses.Loss`` form of :func:`multiloss.keras.triplet_margin_loss`: ``loss_fn = TripletMarginLoss(...)``, then ``loss_fn(y_true, y_pred, sample_weight=None)`` (``reduction`` and ``sample_weight`` are Keras' own)."""
    def __init__(self, *, margin: Any = ..., p: Any = ..., eps: Any = ..., swap: bool = ..., reduction: str = ..., name: Any = ..., dtype: Any = ...) -> None: ...

KlDivergence = KLDivergence  # its earlier name

class DynamicTaskPriority(MultilossLayer):
    """Dynamic Task Prioritization with a moving average of the KPIs."""
    def __init__(self, num_tasks: Any, *, gamma: Any = ..., momentum: Any = ..., name: str | None = ..., dtype: Any = ..., trainable: bool = ...) -> None: ...
    def call(self, losses: Any, kpis: Any) -> Any: ...

class DynamicWeightAverage(MultilossLayer):
    """Dynamic Weight Average (Liu et al. 2019, MTAN): tasks whose loss falls slowly get more weight."""
    def __init__(self, num_tasks: Any, *, temperature: Any = ..., name: str | None = ..., dtype: Any = ..., trainable: bool = ...) -> None: ...
    def call(self, losses: Any) -> Any: ...

class UncertaintyWeighting(MultilossLayer):
    """Uncertainty weighting with its ``log_vars`` (one per task, initialised to 0) held as trainable weights: calling it with the task losses returns ``uncertainty_weighting(losses, log_vars, task_types=..., convention=...)``."""
    def __init__(self, num_tasks: Any, *, task_types: Any = ..., convention: str = ..., name: str | None = ..., dtype: Any = ..., trainable: bool = ...) -> None: ...
    def call(self, losses: Any) -> Any: ...

# Generated from the loss registry by `python -m multiloss._stubs`: do not edit.
# The module builds these names at run time; this file shows them to type checkers.

from typing import Any

import jax

from multiloss.core.ops.jax_ops import data_parallel as data_parallel

__all__ = ['DynamicTaskPriority', 'DynamicWeightAverage', 'UncertaintyWeighting', 'arcface_loss', 'batch_circle_loss', 'binary_cross_entropy', 'categorical_hinge_loss', 'ciou_loss', 'circle_loss', 'clip_loss', 'contrastive_loss', 'cosface_loss', 'cosine_distance', 'cross_entropy', 'ctc_loss', 'data_parallel', 'dice_loss', 'diou_loss', 'distillation_loss', 'gaussian_nll_loss', 'giou_loss', 'hinge_loss', 'huber_loss', 'iou_loss', 'jaccard_loss', 'js_divergence', 'kl_divergence', 'linear_cross_entropy', 'listmle_loss', 'log_cosh_loss', 'log_uniform_candidate_sampler', 'lovasz_hinge_loss', 'lovasz_softmax_loss', 'mean_absolute_error', 'mean_squared_error', 'multi_margin_loss', 'nce_loss', 'ntxent_loss', 'pairwise_hinge_loss', 'pairwise_logistic_loss', 'poisson_nll_loss', 'poly1_cross_entropy', 'poly1_focal_loss', 'quantile_loss', 'sampled_softmax_loss', 'sigmoid_focal_loss', 'smooth_l1_loss', 'smooth_labels', 'softmax_focal_loss', 'softmax_ranking_loss', 'squared_hinge_loss', 'supervised_contrastive_loss', 'task_priority_weights', 'triplet_margin_loss', 'uncertainty_weighting']

def arcface_loss(y_pred: Any, y_true: Any, *, scale: Any = ..., margin: Any = ..., easy_margin: bool = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """ArcFace: additive angular margin loss, Deng et al. 2019."""

def batch_circle_loss(y_pred: Any, y_true: Any, *, margin: Any = ..., gamma: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """Circle loss, class-level form on a batch of embeddings."""

def binary_cross_entropy(y_pred: Any, y_true: Any, *, from_logits: bool = ..., alpha: Any = ..., label_smoothing: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """Sigmoid (binary, multi-label) cross entropy, element-wise."""

def categorical_hinge_loss(y_pred: Any, y_true: Any, *, where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """Multi-class (Crammer–Singer) hinge loss per example: the target score should beat every other score by a margin of 1."""

def ciou_loss(y_pred: Any, y_true: Any, *, box_format: str = ..., eps: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """Complete IoU loss: the DIoU loss plus a penalty on the difference of the boxes' aspect ratios."""

def circle_loss(sp: Any, sn: Any, *, margin: Any = ..., gamma: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """Circle loss, pair form (Sun et al. 2020, eq. 6)."""

def clip_loss(image_embeddings: Any, text_embeddings: Any, *, temperature: Any = ..., normalize: bool = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """CLIP's symmetric contrastive loss (Radford et al. 2021), per pair."""

def contrastive_loss(y_pred: Any, y_true: Any, *, margin: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """Contrastive loss of pair distances (Hadsell et al. 2006), per pair."""

def cosface_loss(y_pred: Any, y_true: Any, *, scale: Any = ..., margin: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """CosFace: large margin cosine loss (LMCL), Wang et al. 2018."""

def cosine_distance(y_pred: Any, y_true: Any, *, axis: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """Cosine distance: one minus the cosine similarity of the vectors along ``axis``."""

def cross_entropy(y_pred: Any, y_true: Any, *, from_logits: bool = ..., class_weight: Any = ..., ignore_index: Any = ..., label_smoothing: Any = ..., z_loss: Any = ..., logit_softcap: Any = ..., axis: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """Softmax cross entropy."""

def ctc_loss(y_pred: Any, y_true: Any, pred_lengths: Any, label_lengths: Any, *, blank: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """Connectionist temporal classification loss, one value per sequence."""

def dice_loss(y_pred: Any, y_true: Any, *, from_logits: bool = ..., smooth: Any = ..., alpha: Any = ..., beta: Any = ..., class_weight: Any = ..., ignore_index: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """Soft Dice loss (Tversky loss for other α, β), per image."""

def diou_loss(y_pred: Any, y_true: Any, *, box_format: str = ..., eps: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """Distance IoU loss: the IoU loss plus the squared distance of the box centres over the squared diagonal of the smallest enclosing box."""

def distillation_loss(y_pred: Any, y_true: Any, *, temperature: Any = ..., axis: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """Knowledge distillation loss (Hinton et al. 2015) per example: the KL divergence from the teacher's softened distribution to the student's, times :math:`T^2`."""

def gaussian_nll_loss(y_pred: Any, y_true: Any, var: Any, *, full: bool = ..., eps: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """Gaussian negative log-likelihood with predicted variances, averaged over the last axis per example."""

def giou_loss(y_pred: Any, y_true: Any, *, box_format: str = ..., eps: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """Generalized IoU loss: the IoU loss plus the share of the smallest enclosing box that neither box covers."""

def hinge_loss(y_pred: Any, y_true: Any, *, where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """Hinge loss, averaged over the last axis per example."""

def huber_loss(y_pred: Any, y_true: Any, *, delta: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """Huber loss, averaged over the last axis per example."""

def iou_loss(y_pred: Any, y_true: Any, *, box_format: str = ..., eps: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """IoU loss: one minus the intersection over union of each predicted box and its target."""

def jaccard_loss(y_pred: Any, y_true: Any, *, from_logits: bool = ..., smooth: Any = ..., class_weight: Any = ..., ignore_index: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """Soft Jaccard (IoU) loss, per image: :func:`dice_loss` with α = β = 1."""

def js_divergence(y_pred: Any, y_true: Any, *, from_logits: bool = ..., axis: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """Jensen-Shannon divergence between two class distributions per example (natural log, so values lie in :math:`[0, \\log 2]`)."""

def kl_divergence(y_pred: Any, y_true: Any, *, from_logits: bool = ..., axis: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """Kullback-Leibler divergence KL(y_true ‖ softmax(y_pred)) per example."""

def linear_cross_entropy(hidden: Any, weight: Any, labels: Any, *, bias: Any = ..., chunk_size: Any = ..., ignore_index: Any = ..., label_smoothing: Any = ..., class_weight: Any = ..., z_loss: Any = ..., logit_softcap: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """Softmax cross entropy of the logits ``hidden @ weight.T + bias``, never formed whole."""

def listmle_loss(y_pred: Any, y_true: Any, *, where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """ListMLE loss, per list: the Plackett–Luce negative log-likelihood of the permutation :math:`\\pi` that sorts the labels in decreasing order."""

def log_cosh_loss(y_pred: Any, y_true: Any, *, where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """Log-cosh loss, averaged over the last axis per example."""

def log_uniform_candidate_sampler(true_classes: Any, num_true: Any, num_sampled: Any, unique: Any, range_max: Any, *, seed: Any = ...) -> jax.Array:
    """Sample classes from the log-uniform (Zipfian) distribution over ``[0, range_max)``."""

def lovasz_hinge_loss(y_pred: Any, y_true: Any, *, ignore_index: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """Lovász hinge loss (binary segmentation), per image: the Lovász extension of the foreground's Jaccard loss applied to hinge errors."""

def lovasz_softmax_loss(y_pred: Any, y_true: Any, *, from_logits: bool = ..., ignore_index: Any = ..., classes: str = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """Lovász-Softmax loss, per image: a convex surrogate of the Jaccard loss (1 − IoU) of each class, averaged over the classes."""

def mean_absolute_error(y_pred: Any, y_true: Any, *, where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """Mean absolute error, averaged over the last axis per example."""

def mean_squared_error(y_pred: Any, y_true: Any, *, where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """Mean squared error, averaged over the last axis per example."""

def multi_margin_loss(y_pred: Any, y_true: Any, *, p: Any = ..., margin: Any = ..., class_weight: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """Multi-class margin loss (Weston–Watkins) per example: every other score is penalised for coming within ``margin`` of the target score."""

def nce_loss(weights: Any, biases: Any, labels: Any, inputs: Any, num_sampled: Any, num_classes: Any, *, num_true: Any = ..., sampled_values: Any = ..., remove_accidental_hits: bool = ..., seed: Any = ...) -> jax.Array:
    """Noise-contrastive estimation: logistic regression of true against sampled classes."""

def ntxent_loss(embeddings: Any, labels: Any, *, temperature: Any = ...) -> jax.Array:
    """Normalized temperature-scaled cross entropy (NT-Xent), the mean over the positive pairs of a batch."""

def pairwise_hinge_loss(pos_score: Any, neg_score: Any, *, margin: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """Pairwise (margin ranking) hinge loss: a positive should outscore its negative."""

def pairwise_logistic_loss(y_pred: Any, y_true: Any, *, where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """Pairwise logistic loss (RankNet), per list: the mean over the list's items of each item's logistic losses against the items it should outrank."""

def poisson_nll_loss(y_pred: Any, y_true: Any, *, log_input: bool = ..., full: bool = ..., eps: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """Poisson negative log-likelihood, averaged over the last axis per example."""

def poly1_cross_entropy(y_pred: Any, y_true: Any, *, epsilon: Any = ..., label_smoothing: Any = ..., axis: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """Poly-1 cross entropy, Leng et al. 2022."""

def poly1_focal_loss(y_pred: Any, y_true: Any, *, epsilon: Any = ..., alpha: Any = ..., gamma: Any = ..., focal: str = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """Poly-1 focal loss, Leng et al. 2022, in the sigmoid or the softmax form."""

def quantile_loss(y_pred: Any, y_true: Any, *, quantile: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """Quantile (pinball) loss, averaged over the last axis per example."""

def sampled_softmax_loss(weights: Any, biases: Any, labels: Any, inputs: Any, num_sampled: Any, num_classes: Any, *, num_true: Any = ..., sampled_values: Any = ..., remove_accidental_hits: bool = ..., seed: Any = ..., label_smoothing: Any = ...) -> jax.Array:
    """Sampled softmax: the softmax cross-entropy over the true and sampled classes only."""

def sigmoid_focal_loss(y_pred: Any, y_true: Any, *, alpha: Any = ..., gamma: Any = ..., from_logits: bool = ..., normalizer: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """Sigmoid focal loss (element-wise, multi-label), Lin et al. 2017."""

def smooth_l1_loss(y_pred: Any, y_true: Any, *, beta: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """Smooth L1 loss (Fast R-CNN), averaged over the last axis per example."""

def smooth_labels(y_true: Any, epsilon: Any) -> jax.Array:
    """Label smoothing: mix one-hot (or soft) targets with the uniform distribution."""

def softmax_focal_loss(y_pred: Any, y_true: Any, *, alpha: Any = ..., gamma: Any = ..., from_logits: bool = ..., ignore_index: Any = ..., axis: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """Multi-class (softmax) focal loss, Lin et al. 2017."""

def softmax_ranking_loss(y_pred: Any, y_true: Any, *, where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """Softmax ranking loss (listwise cross entropy), per list."""

def squared_hinge_loss(y_pred: Any, y_true: Any, *, where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """Squared hinge loss, averaged over the last axis per example."""

def supervised_contrastive_loss(embeddings: Any, labels: Any, *, temperature: Any = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """Supervised contrastive loss (Khosla et al. 2020, :math:`\\mathcal{L}^{sup}_{out}`), per anchor."""

def task_priority_weights(kpis: Any, *, gamma: Any = ...) -> jax.Array:
    """Dynamic Task Prioritization weights (Guo et al. 2018), focal-loss style."""

def triplet_margin_loss(anchor: Any, positive: Any, negative: Any, *, margin: Any = ..., p: Any = ..., eps: Any = ..., swap: bool = ..., where: Any = ..., sample_weight: Any = ..., reduction: str = ...) -> jax.Array:
    """Triplet margin loss, per triplet."""

def uncertainty_weighting(losses: Any, log_vars: Any, *, task_types: Any = ..., convention: str = ...) -> jax.Array:
    """Homoscedastic uncertainty weighting of task losses (Kendall et al. 2018)."""

class DynamicTaskPriority:
    """Dynamic Task Prioritization with a moving average of the KPIs."""
    def __init__(self, num_tasks: Any, *, gamma: Any = ..., momentum: Any = ...) -> None: ...
    def init(self, dtype: Any = ...) -> dict[str, jax.Array]: ...
    def apply(self, state: dict[str, Any], losses: Any, kpis: Any) -> tuple[jax.Array, dict[str, jax.Array]]: ...
    def __call__(self, state: dict[str, Any], losses: Any, kpis: Any) -> tuple[jax.Array, dict[str, jax.Array]]: ...

class DynamicWeightAverage:
    """Dynamic Weight Average (Liu et al. 2019, MTAN): tasks whose loss falls slowly get more weight."""
    def __init__(self, num_tasks: Any, *, temperature: Any = ...) -> None: ...
    def init(self, dtype: Any = ...) -> dict[str, jax.Array]: ...
    def apply(self, state: dict[str, Any], losses: Any) -> tuple[jax.Array, dict[str, jax.Array]]: ...
    def __call__(self, state: dict[str, Any], losses: Any) -> tuple[jax.Array, dict[str, jax.Array]]: ...

class UncertaintyWeighting:
    """Uncertainty weighting with its ``log_vars`` (one per task, initialised to 0) held as trainable weights: calling it with the task losses returns ``uncertainty_weighting(losses, log_vars, task_types=..., convention=...)``."""
    def __init__(self, num_tasks: Any, *, task_types: Any = ..., convention: str = ...) -> None: ...
    def init(self, dtype: Any = ...) -> dict[str, jax.Array]: ...
    def apply(self, state: dict[str, Any], losses: Any) -> tuple[jax.Array, dict[str, jax.Array]]: ...
    def __call__(self, state: dict[str, Any], losses: Any) -> tuple[jax.Array, dict[str, jax.Array]]: ...

"""OGBG eval metrics in numpy, shared by both frameworks: masked BCE, accuracy and mean average precision.

The eval collects every graph's logits first (mAP is not a sum over batches), then scores them here, so
the JAX and PyTorch workloads report the same numbers for the same logits.
"""
from typing import Dict

import numpy as np


def sigmoid_binary_cross_entropy(labels: np.ndarray, logits: np.ndarray, mask: np.ndarray,
                                 label_smoothing: float = 0.0) -> np.ndarray:
  """Per-entry BCE, 0 where masked; the reference the framework loss_fns are tested against.

  Smoothing follows upstream: labels move towards label_smoothing / num_tasks (not / 2).
  """
  labels = np.where(mask > 0, labels, 0.0)
  targets = (1.0 - label_smoothing) * labels + label_smoothing / labels.shape[-1]
  losses = np.maximum(logits, 0.0) - logits * targets + np.log1p(np.exp(-np.abs(logits)))
  return np.where(mask > 0, losses, 0.0)


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
  """Area under the precision-recall steps, as sklearn's average_precision_score.

  AP = sum_k (R_k - R_{k-1}) P_k over the distinct score thresholds, highest first; tied scores form one
  step. Needs at least one positive.
  """
  labels = np.asarray(labels, dtype=np.float64)
  order = np.argsort(-np.asarray(scores, dtype=np.float64), kind='stable')
  scores, labels = np.asarray(scores)[order], labels[order]
  # The last index of each run of equal scores: the thresholds.
  last = np.r_[np.nonzero(np.diff(scores))[0], len(scores) - 1]
  true_positives = np.cumsum(labels)[last]
  predicted = last + 1.0
  precision = true_positives / predicted
  recall = true_positives / true_positives[-1]
  return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def mean_average_precision(labels: np.ndarray, logits: np.ndarray, mask: np.ndarray) -> float:
  """Mean over tasks of AP on the labelled entries; tasks without both a positive and a negative there
  are skipped (upstream counts masked entries as negatives in that check; we do not). NaN if none is left.
  """
  mask = mask > 0
  aps = []
  for task in range(labels.shape[1]):
    task_labels = labels[mask[:, task], task]
    if task_labels.size and 0 < task_labels.sum() < task_labels.size:
      aps.append(average_precision(task_labels, logits[mask[:, task], task]))  # Sigmoid keeps the order.
  return float(np.mean(aps)) if aps else float('nan')


def summarize(labels: np.ndarray, logits: np.ndarray, mask: np.ndarray) -> Dict[str, float]:
  """loss and accuracy are means over the labelled entries; mAP as above."""
  mask = (mask > 0).astype(np.float64)
  count = max(mask.sum(), 1.0)
  losses = sigmoid_binary_cross_entropy(labels, logits.astype(np.float64), mask)
  correct = ((logits > 0) == (labels > 0.5)) * mask
  return {
      'loss': float(losses.sum() / count),
      'accuracy': float(correct.sum() / count),
      'mean_average_precision': mean_average_precision(labels, logits, mask),
  }

"""OGBG mean average precision pinned to a multi-task case worked out on paper.

Definition (harness.md, ogbg): per task, sklearn's average precision over the labelled entries,
AP = sum_k (R_k - R_{k-1}) * P_k over the distinct score thresholds from the highest (tied scores form
one threshold); tasks without both a positive and a negative among the labelled entries are skipped;
the mean over the tasks left. Missing labels are NaN in the data and carry weight 0. (The one-class check
looks at the labelled entries only, as metrics.py documents; upstream counted masked zeros as negatives there,
which would keep task 1 below with AP 1 and give (5/6 + 1 + 2/3) / 3.)

Five graphs, five tasks ('-' = NaN, not labelled); the scores are logits (the sigmoid keeps the order):
  task 0: labels 1, 0, -, 1, 0    scores 0.9, 0.8, 5.0, 0.3, 0.1
          labelled ranking 1 (P 1/1, R 1/2), 0, 1 (P 2/3, R 1), 0: AP = 1/2 * 1 + 1/2 * 2/3 = 5/6.
          (Were the unlabelled 5.0 counted as a negative, AP would be 1/2 * 1/2 + 1/2 * 2/4 = 1/2.)
  task 1: labels 1, 1, -, -, 1    only positives among the labelled entries: skipped (AP 1 if not).
  task 2: labels 0, -, 0, 0, -    only negatives: skipped (AP undefined, 0/0, if not).
  task 3: labels 0, 1, 1, 0, -    scores 0.2, 0.4, 0.4, 0.6, -3.0
          0.6 (label 0): P 0/1, R 0; the tie at 0.4 (labels 1, 1) is one threshold: P 2/3, R 1; then 0.2.
          AP = (0 - 0) * 0 + (1 - 0) * 2/3 = 2/3.
  task 4: no labels at all: skipped.
mAP = (5/6 + 2/3) / 2 = 3/4.
"""
import numpy as np
import pytest

from workloads.ogbg import metrics

NAN = np.nan
LABELS = np.array([
    [1, 1, 0, 0, NAN],
    [0, 1, NAN, 1, NAN],
    [NAN, NAN, 0, 1, NAN],
    [1, NAN, 0, 0, NAN],
    [0, 1, NAN, NAN, NAN],
], np.float32)
LOGITS = np.array([
    [0.9, 0.5, 0.5, 0.2, 0.0],
    [0.8, 0.5, 0.5, 0.4, 0.0],
    [5.0, 0.5, 0.5, 0.4, 0.0],
    [0.3, 0.5, 0.5, 0.6, 0.0],
    [0.1, 0.5, 0.5, -3.0, 0.0],
], np.float32)
WEIGHTS = (~np.isnan(LABELS)).astype(np.float32)
EXPECTED_MAP = (5 / 6 + 2 / 3) / 2


def test_mean_average_precision_by_hand_with_nan_labels():
  assert metrics.mean_average_precision(LABELS, LOGITS, WEIGHTS) == pytest.approx(EXPECTED_MAP, abs=1e-12)


def test_mean_average_precision_by_hand_as_the_pipeline_hands_it_over():
  """The input pipeline turns NaN labels into 0 with weight 0: a 0 there must not count as a negative."""
  labels = np.nan_to_num(LABELS, nan=0.0)
  assert metrics.summarize(labels, LOGITS, WEIGHTS)['mean_average_precision'] == pytest.approx(
      EXPECTED_MAP, abs=1e-12)


def test_per_task_average_precision_by_hand():
  labelled = WEIGHTS[:, 0] > 0
  assert metrics.average_precision(LABELS[labelled, 0], LOGITS[labelled, 0]) == pytest.approx(5 / 6, abs=1e-12)
  labelled = WEIGHTS[:, 3] > 0
  assert metrics.average_precision(LABELS[labelled, 3], LOGITS[labelled, 3]) == pytest.approx(2 / 3, abs=1e-12)

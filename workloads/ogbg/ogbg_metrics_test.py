"""OGBG loss and metrics: hand-computed average precision and mAP, the masked BCE in both frameworks against
the numpy reference, and the eval summary."""
import math

import jax.numpy as jnp
import numpy as np
import pytest
import torch

from workloads.ogbg import metrics
from workloads.ogbg.jax import losses as jax_losses
from workloads.ogbg.pytorch import losses as torch_losses


@pytest.mark.parametrize('labels, scores, expected', [
    # Ranked 1,0,1,0: precision 1 at recall 1/2, 2/3 at recall 1.
    ([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1], 0.5 * 1 + 0.5 * 2 / 3),
    # Tied scores are one threshold: {1,0} at 0.5 (P 1/2, R 1/2), then all (P 2/3, R 1).
    ([1, 0, 1], [0.5, 0.5, 0.2], 0.5 * 0.5 + 0.5 * 2 / 3),
    ([0, 1, 1], [0.1, 0.8, 0.9], 1.0),  # Perfect ranking.
    ([1, 0, 0, 0], [0.1, 0.2, 0.3, 0.4], 0.25),  # The positive last: P 1/4 at R 1.
    ([0, 1, 0, 1, 0], [5.0, 4.0, 3.0, 2.0, 1.0], 0.5 * 0.5 + 0.5 * 0.5),
])
def test_average_precision_on_hand_computed_cases(labels, scores, expected):
  assert metrics.average_precision(np.array(labels), np.array(scores)) == pytest.approx(expected, abs=1e-12)


def test_mean_average_precision_skips_tasks_without_both_classes_among_labelled_entries():
  labels = np.array([[1, 1, 0, 1], [0, 1, 0, 0], [1, 0, 0, 1], [0, 0, 0, 0]], np.float32)
  logits = np.array([[2.0, 0.1, 0.0, 0.5], [1.0, 0.2, 0.0, 0.5], [0.5, 0.3, 0.0, -1.0], [-1.0, 0.4, 0.0, 0.0]],
                    np.float32)
  mask = np.array([[1, 1, 0, 1], [1, 1, 0, 1], [1, 0, 0, 1], [1, 0, 0, 1]], np.float32)
  # Task 0: ranking 1,0,1,0 -> 5/6. Task 1: labelled entries are all positive (masked ones are 0): skipped,
  # where upstream would count the masked zeros as negatives. Task 2: nothing labelled. Task 3: scores
  # 0.5,0.5,-1,0 for labels 1,0,1,0: tie {1,0} (P 1/2, R 1/2), then 0 (P 1/3), then 1 (P 1/2, R 1).
  expected_task3 = 0.5 * 0.5 + 0.5 * 0.5
  assert metrics.mean_average_precision(labels, logits, mask) == pytest.approx((5 / 6 + expected_task3) / 2)
  assert math.isnan(metrics.mean_average_precision(labels, logits, np.zeros_like(mask)))


def test_summary_loss_and_accuracy_by_hand():
  labels = np.array([[1.0, 0.0], [0.0, 1.0]])
  logits = np.array([[0.0, -2.0], [3.0, 1.0]])
  mask = np.array([[1.0, 1.0], [1.0, 0.0]])
  summary = metrics.summarize(labels, logits, mask)
  expected_loss = (math.log(2) + math.log1p(math.exp(-2)) + 3 + math.log1p(math.exp(-3))) / 3
  assert summary['loss'] == pytest.approx(expected_loss)
  assert summary['accuracy'] == pytest.approx(1 / 3)  # 0 > 0 is a negative prediction: only (0, 1) is right.


def _inputs(seed=0, shape=(7, 128)):
  rs = np.random.RandomState(seed)
  logits = (rs.normal(size=shape) * 4).astype(np.float32)
  labels = (rs.uniform(size=shape) > 0.7).astype(np.float32)
  mask = (rs.uniform(size=shape) > 0.9).astype(np.float32)
  mask[-1] = 0.0  # A padding graph.
  return labels, logits, mask


@pytest.mark.parametrize('label_smoothing', [0.0, 0.1])
def test_losses_match_across_frameworks_and_the_reference(label_smoothing):
  labels, logits, mask = _inputs()
  reference = metrics.sigmoid_binary_cross_entropy(labels.astype(np.float64), logits.astype(np.float64), mask,
                                                   label_smoothing)
  jl = jax_losses.sigmoid_binary_cross_entropy(jnp.asarray(labels), jnp.asarray(logits), jnp.asarray(mask),
                                               label_smoothing)
  tl = torch_losses.sigmoid_binary_cross_entropy(torch.from_numpy(labels), torch.from_numpy(logits),
                                                 torch.from_numpy(mask), label_smoothing)
  assert int(jl['n_valid_examples']) == int(tl['n_valid_examples']) == int(mask.sum())
  np.testing.assert_allclose(np.asarray(jl['per_example']), tl['per_example'].numpy(), rtol=1e-6, atol=1e-7)
  np.testing.assert_allclose(np.asarray(jl['per_example']), reference, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(float(jl['summed']), float(tl['summed']), rtol=1e-6)
  assert np.all(np.asarray(jl['per_example'])[mask == 0] == 0)


def test_loss_by_hand_with_smoothing_towards_one_over_the_task_count():
  logits = jnp.zeros((1, 128))
  labels = jnp.zeros((1, 128)).at[0, 0].set(1.0)
  loss = jax_losses.sigmoid_binary_cross_entropy(labels, logits, None, 0.2)
  # At logit 0 the BCE is log 2 whatever the target; n_valid counts every entry without a mask.
  assert float(loss['summed']) == pytest.approx(128 * math.log(2), rel=1e-6)
  assert int(loss['n_valid_examples']) == 128
  logits = jnp.full((1, 128), 2.0)
  smoothed = jax_losses.sigmoid_binary_cross_entropy(labels, logits, None, 0.2)['per_example'][0, 0]
  target = 0.8 + 0.2 / 128
  assert float(smoothed) == pytest.approx(math.log1p(math.exp(-2.0)) + 2.0 * (1 - target), rel=1e-6)


def test_masked_nan_labels_give_finite_gradients():
  import jax  # pylint: disable=import-outside-toplevel
  labels = jnp.array([[jnp.nan, 1.0]])
  mask = jnp.array([[0.0, 1.0]])
  grad = jax.grad(lambda x: jax_losses.sigmoid_binary_cross_entropy(labels, x, mask)['summed'])(jnp.zeros((1, 2)))
  assert np.all(np.isfinite(np.asarray(grad))) and float(grad[0, 0]) == 0.0


def test_losses_reject_mismatched_shapes():
  with pytest.raises(ValueError, match='must match'):
    jax_losses.sigmoid_binary_cross_entropy(jnp.zeros((2, 128)), jnp.zeros((2, 127)))
  with pytest.raises(ValueError, match='must match'):
    torch_losses.sigmoid_binary_cross_entropy(torch.zeros(2, 128), torch.zeros(3, 128))

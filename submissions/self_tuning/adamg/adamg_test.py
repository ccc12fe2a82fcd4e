"""AdamG: the update (with its min(1/sqrt(t), lr) step) against numpy, the schedule, batch sizes."""
import numpy as np
import pytest

from algoperf_kernels import reference
from submissions.common import baseline_batch_sizes
from submissions.common import jax_optimizers
from submissions.common import pytorch_optimizers
from submissions.common import testing
from submissions.self_tuning.adamg import hparams
from submissions.self_tuning.adamg import pytorch_submission

H = hparams.HPARAMS
LR = 0.3  # 1/sqrt(t) < 0.3 from t = 12 on: both sides of the min within 20 steps


def test_update_rule_against_numpy():
  params, grads = testing.random_problem()
  betas = (H['beta1'], H['beta2'], H['beta3'])
  expected = [p.astype(np.float64) for p in params]
  state = [[np.zeros(p.shape)] * 3 for p in params]
  for t, g in enumerate(grads, start=1):
    for i in range(len(params)):
      expected[i], *state[i] = reference.adamg(expected[i], g[i], *state[i], lr=LR, step=t, beta1=betas[0],
                                               beta2=betas[1], beta3=betas[2], eps=H['eps'])
  for on in (True, False):
    with testing.kernels(on):
      got = testing.run_jax(jax_optimizers.adamg(LR, *betas, eps=H['eps']), params, grads)
      testing.assert_close(got, expected, 1e-6)
      got = testing.run_torch(lambda ts: pytorch_optimizers.adamg(ts, LR, betas, H['eps']), params, grads)
      testing.assert_close(got, expected, 1e-6)
  assert max(np.abs(e - p).max() for e, p in zip(expected, params)) > 1e-2


def test_schedule_and_batch_sizes():
  assert hparams.schedule_args(1000) == (1.0, 15, 750.0)  # W = int(0.015 step_hint), T = 0.75 step_hint
  assert pytorch_submission.get_batch_size('imagenet_resnet') == 1024
  with pytest.raises(ValueError):
    baseline_batch_sizes.get_batch_size_without_activation_variants('imagenet_resnet_gelu')

"""Self-tuning Schedule-Free AdamW: the published fixed point (warmup 0.02 * 0.75 of step_hint, label
smoothing 0.2) against the numpy references of both forms, kernels against ALGOPERF_KERNELS=off, and JAX
against PyTorch."""
import os

import numpy as np
import pytest

from algoperf import submission_loader
from submissions.common import numpy_references
from submissions.common import quadratic_testing as qt
from submissions.common import twin_parity_testing

FOLDER = os.path.dirname(os.path.abspath(__file__))
STEPS = 20
WORKLOAD = dict(step_hint=400)  # Warmup int(0.015 * 400) = 6 steps.


def _load(framework):
  return submission_loader.load_submission(os.path.join(FOLDER, f'{framework}_submission.py'))


def test_the_fixed_point_is_the_published_one():
  h = _load('pytorch').HPARAMS
  assert h['learning_rate'] == 0.0025 and h['one_minus_beta1'] == 0.1 and h['beta2'] == 0.9955159689799007
  assert h['weight_decay'] == 0.08121616522670176 and h['label_smoothing'] == 0.2
  assert int(h['warmup_factor'] * 400) == 6 and 'dropout_rate' not in h  # Dropout: the workload default.


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
@pytest.mark.parametrize('rules', ['v0.5', 'v0.6'])
def test_both_forms_follow_their_references(framework, rules):
  sub = _load(framework)
  evaluated, _, _ = qt.drive(sub, framework, None, rules, STEPS, workload_kwargs=WORKLOAD)
  if rules == 'v0.5':
    want = numpy_references.schedule_free_v05(sub.HPARAMS, STEPS, warmup_steps=6)
  else:
    want, _ = numpy_references.schedule_free_v06(sub.HPARAMS, STEPS, warmup_steps=6)
  qt.assert_close(evaluated, want)
  assert np.abs(np.array(want[-1]) - qt.initial_flat()).max() > 1e-3


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_kernels_match_the_plain_path(monkeypatch, framework):
  on, _, _ = qt.drive(_load(framework), framework, None, 'v0.6', STEPS, workload_kwargs=WORKLOAD)
  monkeypatch.setenv('ALGOPERF_KERNELS', 'off')
  off, _, _ = qt.drive(_load(framework), framework, None, 'v0.6', STEPS, workload_kwargs=WORKLOAD)
  qt.assert_close(on, off)


def test_jax_and_pytorch_give_the_same_losses():
  jax_losses, torch_losses = twin_parity_testing.losses(FOLDER, None, 'v0.5', steps=30)
  np.testing.assert_allclose(jax_losses, torch_losses, rtol=1e-4)
  assert jax_losses[-1] < jax_losses[0] - 0.3

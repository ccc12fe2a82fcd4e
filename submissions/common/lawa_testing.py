"""What the runner should evaluate after each update_params call of a LAWA submission on the quadratic, from
numpy_references.lawa: v0.5 runs n steps per call and evaluates the average once it exists; v0.6 runs one
step per call and prepare_for_eval evaluates the average once it exists."""
import json
import math
import os

import numpy as np
import pytest

from algoperf import tuning
from submissions.common import averaging_hparams
from submissions.common import numpy_references
from submissions.common import quadratic_testing as qt
from submissions.common import twin_parity_testing

STEP_HINT = 100
# n = ceil(0.25 * eval_period / (budget / step_hint)) = ceil(0.25 * 1 / 0.1) = 3 steps per v0.5 call.
WORKLOAD = dict(step_hint=STEP_HINT, max_allowed_runtime_sec=10.0, eval_period_time_sec=1.0)
STEPS_PER_V05_CALL = 3
H = {'learning_rate': 0.05, 'one_minus_beta1': 0.1, 'beta2': 0.99, 'weight_decay': 0.1, 'warmup_factor': 0.05,
     'label_smoothing': 0.0, 'dropout_rate': 0.0, 'lawa_start_factor': 0.02, 'lawa_interval_scaling': 0.02,
     'lawa_inner_steps_frac': 0.25}


def expected(h, rules: str, calls: int, averaging: str, ema_decay=None):
  """(evaluated weights after each call, training weights after each call)."""
  n = STEPS_PER_V05_CALL if rules == 'v0.5' else 1
  assert n == math.ceil(h['lawa_inner_steps_frac'] * WORKLOAD['eval_period_time_sec'] /
                        (WORKLOAD['max_allowed_runtime_sec'] / STEP_HINT)) or n == 1
  steps = numpy_references.lawa(h, calls * n, STEP_HINT, averaging, ema_decay)
  evaluated, training = [], []
  for call in range(calls):
    theta, avg = steps[(call + 1) * n - 1]
    evaluated.append(theta if avg is None else avg)
    training.append(theta)
  return evaluated, training


class LawaSubmissionTests:
  """The tests both LAWA folders share; a folder's test file subclasses this as `Test...` and sets the fields.

  NAdamW + averaging against the numpy reference under both rules versions, kernels against
  ALGOPERF_KERNELS=off, JAX against PyTorch, the search space, bit-exact training across v0.6 evals, bad input.
  """
  FOLDER: str = ''
  AVERAGING: str = ''  # 'queue' or 'ema'.
  H: dict = H
  EMA_DECAY: dict = {'v0.5': None, 'v0.6': None}  # The decay the reference uses under each rules version.
  BAD_INPUTS: list = []  # (hyperparameter, value) pairs outside their domain.
  CALLS = {'v0.5': 8, 'v0.6': 20}

  def _load(self, framework):
    from algoperf import submission_loader  # pylint: disable=import-outside-toplevel
    return submission_loader.load_submission(os.path.join(self.FOLDER, f'{framework}_submission.py'))

  def _drive(self, framework, rules, **kwargs):
    return qt.drive(self._load(framework), framework, tuning.to_hyperparameters(self.H), rules, self.CALLS[rules],
                    workload_kwargs=WORKLOAD, **kwargs)

  @pytest.mark.parametrize('framework', ['jax', 'pytorch'])
  @pytest.mark.parametrize('rules', ['v0.5', 'v0.6'])
  def test_evaluated_and_training_weights_follow_the_reference(self, framework, rules):
    evaluated, training, _ = self._drive(framework, rules)
    want_evaluated, want_training = expected(self.H, rules, self.CALLS[rules], self.AVERAGING, self.EMA_DECAY[rules])
    qt.assert_close(evaluated, want_evaluated)
    if rules == 'v0.6':  # Under v0.5 update_params returns the average itself.
      qt.assert_close(training, want_training)
    assert np.abs(np.array(want_evaluated[-1]) - np.array(want_training[-1])).max() > 1e-4  # The average matters.

  @pytest.mark.parametrize('framework', ['jax', 'pytorch'])
  def test_v06_training_weights_are_unchanged_by_evals_bit_for_bit(self, framework):
    _, with_evals, _ = self._drive(framework, 'v0.6', prepare=True)
    _, without, _ = self._drive(framework, 'v0.6', prepare=False)
    assert np.array_equal(np.array(with_evals), np.array(without))

  @pytest.mark.parametrize('framework', ['jax', 'pytorch'])
  @pytest.mark.parametrize('rules', ['v0.5', 'v0.6'])
  def test_kernels_match_the_plain_path(self, monkeypatch, framework, rules):
    on, _, _ = self._drive(framework, rules)
    monkeypatch.setenv('ALGOPERF_KERNELS', 'off')
    off, _, _ = self._drive(framework, rules)
    qt.assert_close(on, off)

  @pytest.mark.parametrize('rules', ['v0.5', 'v0.6'])
  def test_jax_and_pytorch_give_the_same_losses(self, rules):
    with open(os.path.join(self.FOLDER, 'tuning_search_space.json')) as f:
      hparams = tuning.to_hyperparameters(json.load(f)[3])
    # MNIST smoke: s0 = 10, interval 1 (queue full after 20 steps), one step per call under both rules.
    jax_losses, torch_losses = twin_parity_testing.losses(self.FOLDER, hparams, rules, steps=25)
    np.testing.assert_allclose(jax_losses, torch_losses, rtol=1e-4)
    assert jax_losses[-1] < jax_losses[0] - 0.3

  def test_search_space_is_the_published_one_and_every_point_is_valid(self):
    space = tuning.load_search_space(os.path.join(self.FOLDER, 'tuning_search_space.json'))
    assert len(space) == 5 and space[0]['learning_rate'] == 0.001308209823469072
    for point in tuning.trials_for_run(space, 5, seed=0):
      averaging_hparams.check_lawa(tuning.to_hyperparameters(point), self.AVERAGING)

  def test_a_hyperparameter_outside_its_domain_is_named(self):
    for name, value in self.BAD_INPUTS:
      with pytest.raises(ValueError, match=f'{name}={value!r}'):
        qt.drive(self._load('pytorch'), 'pytorch', tuning.to_hyperparameters(dict(self.H, **{name: value})), 'v0.5',
                 1, workload_kwargs=WORKLOAD)

"""LAWA Ema: NAdamW + averaging against a numpy reference of the published formulas under both rules
versions, kernels against ALGOPERF_KERNELS=off, JAX against PyTorch, the search space, bit-exact training
across v0.6 evals, and bad input."""
import json
import os

import numpy as np
import pytest

from algoperf import submission_loader
from algoperf import tuning
from submissions.common import averaging_hparams
from submissions.common import lawa_testing
from submissions.common import quadratic_testing as qt
from submissions.common import twin_parity_testing

FOLDER = os.path.dirname(os.path.abspath(__file__))
H = dict(lawa_testing.H, **{'lawa_beta': 0.5})
CALLS = {'v0.5': 8, 'v0.6': 20}
EMA_DECAY = {'v0.5': 0.0, 'v0.6': 0.5}


def _load(framework):
  return submission_loader.load_submission(os.path.join(FOLDER, f'{framework}_submission.py'))


def _drive(framework, rules, **kwargs):
  return qt.drive(_load(framework), framework, tuning.to_hyperparameters(H), rules, CALLS[rules],
                  workload_kwargs=lawa_testing.WORKLOAD, **kwargs)


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
@pytest.mark.parametrize('rules', ['v0.5', 'v0.6'])
def test_evaluated_and_training_weights_follow_the_reference(framework, rules):
  evaluated, training, _ = _drive(framework, rules)
  want_evaluated, want_training = lawa_testing.expected(H, rules, CALLS[rules], 'ema', EMA_DECAY[rules])
  qt.assert_close(evaluated, want_evaluated)
  if rules == 'v0.6':  # Under v0.5 update_params returns the average itself.
    qt.assert_close(training, want_training)
  assert np.abs(np.array(want_evaluated[-1]) - np.array(want_training[-1])).max() > 1e-4  # The average matters.


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_v06_training_weights_are_unchanged_by_evals_bit_for_bit(framework):
  _, with_evals, _ = _drive(framework, 'v0.6', prepare=True)
  _, without, _ = _drive(framework, 'v0.6', prepare=False)
  assert np.array_equal(np.array(with_evals), np.array(without))


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
@pytest.mark.parametrize('rules', ['v0.5', 'v0.6'])
def test_kernels_match_the_plain_path(monkeypatch, framework, rules):
  on, _, _ = _drive(framework, rules)
  monkeypatch.setenv('ALGOPERF_KERNELS', 'off')
  off, _, _ = _drive(framework, rules)
  qt.assert_close(on, off)


@pytest.mark.parametrize('rules', ['v0.5', 'v0.6'])
def test_jax_and_pytorch_give_the_same_losses(rules):
  with open(os.path.join(FOLDER, 'tuning_search_space.json')) as f:
    hparams = tuning.to_hyperparameters(json.load(f)[3])
  # MNIST smoke: s0 = 10, interval 1 (queue full after 20 steps), one step per call under both rules.
  jax_losses, torch_losses = twin_parity_testing.losses(FOLDER, hparams, rules, steps=25)
  np.testing.assert_allclose(jax_losses, torch_losses, rtol=1e-4)
  assert jax_losses[-1] < jax_losses[0] - 0.3


def test_search_space_is_the_published_one_and_every_point_is_valid():
  space = tuning.load_search_space(os.path.join(FOLDER, 'tuning_search_space.json'))
  assert len(space) == 5 and space[0]['learning_rate'] == 0.001308209823469072
  for point in tuning.trials_for_run(space, 5, seed=0):
    averaging_hparams.check_lawa(tuning.to_hyperparameters(point), 'ema')


@pytest.mark.parametrize('name,value', [('lawa_beta', 1.0), ('lawa_beta', -0.1), ('learning_rate', -1.0)])
def test_a_hyperparameter_outside_its_domain_is_named(name, value):
  with pytest.raises(ValueError, match=f'{name}={value!r}'):
    qt.drive(_load('pytorch'), 'pytorch', tuning.to_hyperparameters(dict(H, **{name: value})), 'v0.5', 1,
             workload_kwargs=lawa_testing.WORKLOAD)

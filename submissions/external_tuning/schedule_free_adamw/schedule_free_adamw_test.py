"""Schedule-Free AdamW (external): the update against numpy references of both published forms, the kernels
against ALGOPERF_KERNELS=off, JAX against PyTorch, the search space, and bit-exact training under v0.6 evals."""
import json
import os

import numpy as np
import pytest

from algoperf import submission_loader
from algoperf import tuning
from submissions.common import averaging_hparams
from submissions.common import numpy_references
from submissions.common import quadratic_testing as qt
from submissions.common import twin_parity_testing

FOLDER = os.path.dirname(os.path.abspath(__file__))
STEPS = 20
# A larger lr and warmup of 5 of step_hint = 100 steps, so warmup, c and decay all matter within 20 steps.
H = {'learning_rate': 0.05, 'one_minus_beta1': 0.1, 'beta2': 0.9955, 'weight_decay': 0.08, 'warmup_factor': 0.05,
     'label_smoothing': 0.0, 'dropout_rate': 0.0}


def _load(framework):
  return submission_loader.load_submission(os.path.join(FOLDER, f'{framework}_submission.py'))


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_v05_form_follows_the_closure_form_reference(framework):
  evaluated, _, _ = qt.drive(_load(framework), framework, tuning.to_hyperparameters(H), 'v0.5', STEPS)
  want = numpy_references.schedule_free_v05(H, STEPS, warmup_steps=5)
  qt.assert_close(evaluated, want)


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_v06_form_follows_the_published_reference_and_evaluates_x(framework):
  evaluated, training, _ = qt.drive(_load(framework), framework, tuning.to_hyperparameters(H), 'v0.6', STEPS)
  xs, ys = numpy_references.schedule_free_v06(H, STEPS, warmup_steps=5)
  qt.assert_close(evaluated, xs)
  qt.assert_close(training, ys)
  assert np.abs(np.array(xs) - np.array(ys)).max() > 1e-3  # x and y differ: evaluating y would fail above.


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_v06_training_weights_are_unchanged_by_evals_bit_for_bit(framework):
  hparams = tuning.to_hyperparameters(H)
  _, with_evals, _ = qt.drive(_load(framework), framework, hparams, 'v0.6', STEPS, prepare=True)
  _, without, _ = qt.drive(_load(framework), framework, hparams, 'v0.6', STEPS, prepare=False)
  assert np.array_equal(np.array(with_evals), np.array(without))


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
@pytest.mark.parametrize('rules', ['v0.5', 'v0.6'])
def test_kernels_match_the_plain_path(monkeypatch, framework, rules):
  hparams = tuning.to_hyperparameters(H)
  on, _, _ = qt.drive(_load(framework), framework, hparams, rules, STEPS)
  monkeypatch.setenv('ALGOPERF_KERNELS', 'off')
  off, _, _ = qt.drive(_load(framework), framework, hparams, rules, STEPS)
  qt.assert_close(on, off)


@pytest.mark.parametrize('rules', ['v0.5', 'v0.6'])
def test_jax_and_pytorch_give_the_same_losses(rules):
  with open(os.path.join(FOLDER, 'tuning_search_space.json')) as f:
    hparams = tuning.to_hyperparameters(json.load(f)[1])
  jax_losses, torch_losses = twin_parity_testing.losses(FOLDER, hparams, rules)
  np.testing.assert_allclose(jax_losses, torch_losses, rtol=1e-4)
  assert jax_losses[-1] < jax_losses[0] - 0.3


def test_search_space_is_the_published_one_and_every_point_is_valid():
  space = tuning.load_search_space(os.path.join(FOLDER, 'tuning_search_space.json'))
  assert [p['learning_rate'] for p in space] == [0.004, 0.003, 0.002, 0.005, 0.001]
  assert [p['beta2'] for p in space] == [0.9955, 0.9955, 0.9955, 0.62918, 0.9955]
  trials = tuning.trials_for_run(space, 5, seed=0)
  assert len(trials) == 5
  for point in trials:
    averaging_hparams.check_schedule_free(tuning.to_hyperparameters(point))


@pytest.mark.parametrize('name,value', [('one_minus_beta1', 1.0), ('beta2', 1.0), ('learning_rate', 0.0),
                                        ('weight_decay', -0.1)])
def test_a_hyperparameter_outside_its_domain_is_named(name, value):
  with pytest.raises(ValueError, match=f'{name}={value!r} is outside its domain'):
    qt.drive(_load('pytorch'), 'pytorch', tuning.to_hyperparameters(dict(H, **{name: value})), 'v0.5', 1)

"""The published divergence reset of the self-tuning Schedule-Free AdamW (submissions.md §3.1): a run no better
than its first eval restarts from x0 at half the learning rate; a run that improves, an early step, or no new
eval leaves it alone."""
import os

import numpy as np
import pytest

from algoperf import submission_loader
from submissions.common import divergence_reset
from submissions.common import quadratic_testing as qt
from submissions.common import self_tuning

FOLDER = os.path.dirname(os.path.abspath(__file__))
STEP_HINT = 100  # The check starts after step 10.


class _Workload:
  step_hint, target_metric_name = STEP_HINT, 'accuracy'


def _evals(values, name='accuracy'):
  return [(i * 3, {'validation/' + name: v}) for i, v in enumerate(values)]


@pytest.mark.parametrize('values,name,want', [
    ([0.5, 0.5, 0.504, 0.506], 'accuracy', True),   # no better than the first eval
    ([0.5, 0.52, 0.53, 0.54], 'accuracy', False),   # small steps up, but 0.04 above the first eval
    ([0.5, 0.5, 0.5, 0.52], 'accuracy', False),     # the last eval improved by 0.02
    ([0.5, 0.495, 0.49, 0.5], 'loss', True),        # loss: negated, so no progress
    ([0.5, 0.45, 0.4, 0.35], 'loss', False),        # loss falling: progress
    ([0.3, 0.31, 0.32, 0.325], 'wer', True),        # wer rising: worse
])
def test_the_published_test(values, name, want):
  w = _Workload()
  w.target_metric_name = name
  assert divergence_reset.check(w, _evals(values, name), 11, 0) == (want, 4)


def test_when_it_looks():
  flat = _evals([0.5] * 4)
  assert divergence_reset.check(_Workload(), flat, 10, 0) == (False, 0)  # not after 0.1 step_hint yet
  assert divergence_reset.check(_Workload(), flat, 11, 4) == (False, 4)  # no new eval since the last check
  assert divergence_reset.check(_Workload(), flat[:3], 11, 0) == (False, 3)  # fewer than 4 evals
  assert divergence_reset.check(_Workload(), flat, 11, 3) == (True, 4)


def _load(framework):
  return submission_loader.load_submission(os.path.join(FOLDER, f'{framework}_submission.py'))


def _training_point(framework, state, params):
  if framework == 'jax':
    return qt.QuadraticJax.flat(state['state']['params'])
  return qt.QuadraticTorch.flat(params)


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
@pytest.mark.parametrize('rules', ['v0.5', 'v0.6'])
def test_a_diverging_run_restarts_at_half_the_lr(framework, rules):
  sub, wl = _load(framework), qt.workload(framework, step_hint=STEP_HINT)
  wl.target_metric_name = 'accuracy'
  rng = (lambda i: __import__('jax').random.PRNGKey(i)) if framework == 'jax' else (lambda i: None)
  params = wl.init_params(qt.initial_flat())
  state = sub.init_optimizer_state(wl, params, None, None, rng(0))
  raw = qt.batches(17)
  kwargs = {'train_state': {}} if rules == 'v0.6' else {}
  evals = []
  for step in range(16):
    if step in (2, 4, 6, 8):  # evals with no progress (up to step 10 nothing is checked)
      evals.append((step, {'validation/accuracy': 0.5}))
      if rules == 'v0.6':
        state, params, _ = sub.prepare_for_eval(wl, params, None, None, None, None, state, evals, step, rng(0))
    state, params, _ = sub.update_params(wl, params, None, None, None, wl.batch(raw[step]), None, state, evals,
                                         step, rng(step), **kwargs)
    # Step 11 is the first past 0.1 step_hint: it sees 4 flat evals and resets; later steps see no new eval.
    if step < 11:
      assert np.abs(_training_point(framework, state, params) - qt.initial_flat()).max() > 1e-4 or step == 0
  # The reset at step 11, then steps 11..15 from x0 at lr/2 must equal a fresh run at lr/2 for 5 steps.
  external = sub.external
  half = self_tuning.with_fixed_hyperparameters(external, dict(sub.HPARAMS, learning_rate=sub.HPARAMS['learning_rate'] / 2))
  ref_params = wl.init_params(qt.initial_flat())
  ref_state = half[1](wl, ref_params, None, None, rng(0))
  for k, step in enumerate(range(11, 16)):
    ref_state, ref_params, _ = half[2](wl, ref_params, None, None, None, wl.batch(raw[step]), None, ref_state, [],
                                        k, rng(step), **kwargs)
  np.testing.assert_array_equal(_training_point(framework, state, params),
                                _training_point(framework, ref_state, ref_params))
  # One reset so far, at half the published lr; a fifth flat eval resets again, at a quarter.
  lr = lambda: state['steps'].lr if framework == 'jax' else state['optimizer'].param_groups[0]['lr']
  assert lr() == pytest.approx(0.00125)
  evals.append((16, {'validation/accuracy': 0.5}))
  state, params, _ = sub.update_params(wl, params, None, None, None, wl.batch(raw[16]), None, state, evals, 16,
                                       rng(16), **kwargs)
  assert lr() == pytest.approx(0.000625)
  if framework == 'jax':
    assert state['reset']['resets'] == 2


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_an_improving_run_is_left_alone(framework):
  sub, wl = _load(framework), qt.workload(framework, step_hint=STEP_HINT)
  wl.target_metric_name = 'loss'
  rng = (lambda i: __import__('jax').random.PRNGKey(i)) if framework == 'jax' else (lambda i: None)
  params = wl.init_params(qt.initial_flat())
  state = sub.init_optimizer_state(wl, params, None, None, rng(0))
  evals = _evals([1.0, 0.8, 0.6, 0.4], 'loss')
  plain_ext = self_tuning.with_fixed_hyperparameters(sub.external, sub.HPARAMS)
  ref_params = wl.init_params(qt.initial_flat())
  ref_state = plain_ext[1](wl, ref_params, None, None, rng(0))
  raw = qt.batches(14)
  for step in range(14):
    state, params, _ = sub.update_params(wl, params, None, None, None, wl.batch(raw[step]), None, state, evals, step,
                                         rng(step))
    ref_state, ref_params, _ = plain_ext[2](wl, ref_params, None, None, None, wl.batch(raw[step]), None, ref_state,
                                            evals, step, rng(step))
  np.testing.assert_array_equal(_training_point(framework, state, params),
                                _training_point(framework, ref_state, ref_params))

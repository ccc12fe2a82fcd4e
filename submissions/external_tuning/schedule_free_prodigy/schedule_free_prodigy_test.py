"""Schedule-Free Prodigy: the update against a numpy reference of §2.11 under both rules versions, JAX
against PyTorch, the search space, identical behaviour under v0.5 and v0.6, and bad input.
(No fused kernel yet, so ALGOPERF_KERNELS changes nothing here: checked below.)"""
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
H = {'weight_decay': 0.1}
WORKLOAD = dict(step_hint=100)  # Warmup int(0.075 * 100) = 7 steps.


def _load(framework):
  return submission_loader.load_submission(os.path.join(FOLDER, f'{framework}_submission.py'))


def _state(framework, optimizer_state, params):
  """The submission's Prodigy state as flat float64 arrays and scalars."""
  if framework == 'jax':
    st = optimizer_state['state']
    flat = lambda tree: qt.QuadraticJax.flat(tree)
    out = {k: flat(st[k]) for k in ('z', 'x0', 'v', 's')}
    out.update({k: float(st[k]) for k in ('d', 'd_num', 'weight_sum', 'k')})
    out['x'] = flat(st['params'])
    return out
  optimizer = optimizer_state['optimizer']
  group = optimizer.param_groups[0]
  ps = group['params']
  flat = lambda name: np.concatenate([optimizer.state[p][name].double().numpy().ravel() for p in ps])
  out = {k: flat(k) for k in ('z', 'x0', 'v', 's')}
  out.update({k: float(group[k]) for k in ('d', 'd_num', 'weight_sum', 'k')})
  out['x'] = qt.QuadraticTorch.flat(params)
  return out


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
@pytest.mark.parametrize('rules', ['v0.5', 'v0.6'])
def test_each_step_follows_the_reference(framework, rules):
  sub, wl = _load(framework), qt.workload(framework, **WORKLOAD)
  hparams = tuning.to_hyperparameters(H)
  params = wl.init_params(qt.initial_flat())
  rng = (lambda i: __import__('jax').random.PRNGKey(i)) if framework == 'jax' else (lambda i: None)
  state = sub.init_optimizer_state(wl, params, None, hparams, rng(0))
  raw = qt.batches(STEPS)
  d_values = []
  for step in range(STEPS):
    before = _state(framework, state, params)
    kwargs = {'train_state': {}} if rules == 'v0.6' else {}
    state, params, _ = sub.update_params(wl, params, None, None, hparams, wl.batch(raw[step]), None, state, [],
                                         step, rng(step), **kwargs)
    if rules == 'v0.6':
      state, params, _ = sub.prepare_for_eval(wl, params, None, None, hparams, None, state, [], step + 1, rng(0))
    after = _state(framework, state, params)
    want = numpy_references.prodigy_step(before, raw[step], step, H['weight_decay'], warmup_steps=7)
    for key in ('x', 'z', 'v', 's', 'd', 'd_num', 'weight_sum', 'k'):
      qt.assert_close(after[key], want[key])
    np.testing.assert_array_equal(qt.QuadraticJax.flat(params) if framework == 'jax' else
                                  qt.QuadraticTorch.flat(params), after['x'])  # x is evaluated.
    d_values.append(after['d'])
  assert d_values[-1] > 1e3 * d_values[0]  # d grew: the estimate is exercised, not stuck at d0.


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_kernel_switch_changes_nothing(monkeypatch, framework):
  on, _, _ = qt.drive(_load(framework), framework, tuning.to_hyperparameters(H), 'v0.6', STEPS,
                      workload_kwargs=WORKLOAD)
  monkeypatch.setenv('ALGOPERF_KERNELS', 'off')
  off, _, _ = qt.drive(_load(framework), framework, tuning.to_hyperparameters(H), 'v0.6', STEPS,
                       workload_kwargs=WORKLOAD)
  qt.assert_close(on, off)


def test_jax_and_pytorch_give_the_same_losses():
  with open(os.path.join(FOLDER, 'tuning_search_space.json')) as f:
    hparams = tuning.to_hyperparameters(json.load(f)[1])
  jax_losses, torch_losses = twin_parity_testing.losses(FOLDER, hparams, 'v0.6', steps=30)
  np.testing.assert_allclose(jax_losses, torch_losses, rtol=1e-4)
  assert jax_losses[-1] < jax_losses[0] - 0.3


def test_search_space_is_the_published_one():
  space = tuning.load_search_space(os.path.join(FOLDER, 'tuning_search_space.json'))
  assert [p['weight_decay'] for p in space] == [0.3, 0.1, 0.03, 0.01, 0.003]
  for point in tuning.trials_for_run(space, 5, seed=0):
    averaging_hparams.check_prodigy(tuning.to_hyperparameters(point))


def test_negative_weight_decay_is_named():
  with pytest.raises(ValueError, match='weight_decay=-0.1 is outside its domain'):
    qt.drive(_load('jax'), 'jax', tuning.to_hyperparameters({'weight_decay': -0.1}), 'v0.5', 1)

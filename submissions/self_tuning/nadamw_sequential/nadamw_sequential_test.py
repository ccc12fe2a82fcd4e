"""NadamW Sequential: the NAdamW rule of each point against numpy, the switches (restart from the initial
weights, stop after the third point), the fixed points and batch sizes."""
import jax
import numpy as np
import pytest
import torch

from algoperf import spec
from submissions.common import testing
from submissions.self_tuning.nadamw_sequential import points

FOLDER = 'self_tuning/nadamw_sequential'


@pytest.mark.parametrize('index', [0, 1, 2])
def test_update_rule_against_numpy(index):
  b1, b2 = points.betas(index)
  testing.check_nadamw_rule(b1, b2, points.POINTS[index]['weight_decay'])


def test_horizons_and_schedules():
  assert points.horizons(1000) == [1000, 1000, 750]
  assert points.horizons(3) == [3, 3, 3]  # ceil(0.75 * 3)
  assert points.schedule_args(2, 1000) == (0.0023792566965593815, 7, 750)


def _weights(framework, current):
  if framework == 'jax':
    return [np.array(x) for x in jax.tree.leaves(current)]  # copies: the step donates the buffers
  return [p.detach().numpy().copy() for p in current.parameters()]


def _run(framework, step_hint, calls, check=None):
  w = testing.workload(framework, step_hint=step_hint)
  submission = testing.load(FOLDER, framework)
  current = testing.initial_weights(framework, w)
  initial = _weights(framework, current)
  state = submission.init_optimizer_state(w, current, None, None, jax.random.PRNGKey(0))
  for i, batch in enumerate(testing.batches(calls)):
    b = {k: (jax.numpy.asarray(v) if framework == 'jax' else torch.from_numpy(v)) for k, v in batch.items()}
    state, current, _ = submission.update_params(w, current, None, None, None, b, None, state, [], i,
                                                 jax.random.PRNGKey(i))
    if check:
      check(i, _weights(framework, current), initial)
  return state


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_switch_restarts_from_initial_weights(framework):

  def check(i, weights, initial):
    if i == 49:  # the last step of point 1: the weights moved away from the start
      assert any(np.abs(a - b).max() > 1e-3 for a, b in zip(weights, initial))
    if i == 50:  # the first step of point 2 starts from the initial weights, and its lr(0) is 0
      for a, b in zip(weights, initial):
        np.testing.assert_array_equal(a, b)

  state = _run(framework, 50, 51, check)  # point 1 of 50 steps; point 2 warms up over int(0.02 * 50) = 1
  assert state['point'] == 1 and state['steps_in_point'] == 1


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_stops_after_the_third_point(framework):
  state = _run(framework, 2, 6)  # points of 2, 2 and ceil(1.5) = 2 steps
  assert state['point'] == 2 and state['steps_in_point'] == 2
  with pytest.raises(spec.TrainingCompleteError):
    _run(framework, 2, 7)

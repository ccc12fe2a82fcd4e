"""The four target-setting algorithms: update rules and schedules against numpy references of harness.md §5.2,
kernel path against ALGOPERF_KERNELS=off, JAX against PyTorch, and the search spaces' draws."""
import collections
import math

import numpy as np
import pytest

from tools.target_setting import search_spaces

STEP_HINT = 20
ADAM_POINT = {'learning_rate': 0.01, 'one_minus_beta1': 0.1, 'one_minus_beta2': 0.01, 'weight_decay': 0.1,
              'warmup_factor': 0.2}
MOMENTUM_POINT = {'learning_rate': 0.05, 'one_minus_beta1': 0.1, 'weight_decay': 1e-3, 'warmup_factor': 0.2,
                  'decay_steps_factor': 0.8, 'end_factor': 0.01}


def _hp(algorithm):
  point = dict(ADAM_POINT if algorithm in search_spaces.ADAM_PAIR else MOMENTUM_POINT, algorithm=algorithm)
  return collections.namedtuple('Hyperparameters', sorted(point))(**point)


def _lr(hp, count):
  """The schedule written out from the spec: warmup over W = int(0.2 x 20) = 4 updates, then cosine to 0 at 20
  (Adam pair) or linear to lr x end_factor at int(0.8 x 20) = 16 (momentum pair)."""
  w = int(hp.warmup_factor * STEP_HINT)
  if count < w:
    return hp.learning_rate * count / w
  if hp.algorithm in search_spaces.ADAM_PAIR:
    return hp.learning_rate * 0.5 * (1 + math.cos(math.pi * min(count - w, STEP_HINT - w) / (STEP_HINT - w)))
  d = int(hp.decay_steps_factor * STEP_HINT)
  return hp.learning_rate * (1 - (1 - hp.end_factor) * min((count - w) / (d - w), 1.0))


def _reference(hp, p, grads):
  """numpy: AdamW / NAdamW (decay x lr) and Nesterov / heavy ball with decoupled decay x lr."""
  p = p.astype(np.float64).copy()
  m, v = np.zeros_like(p), np.zeros_like(p)
  b1 = 1 - hp.one_minus_beta1
  for t, g in enumerate(grads, start=1):
    lr = _lr(hp, t - 1)
    if hp.algorithm in search_spaces.ADAM_PAIR:
      b2 = 1 - hp.one_minus_beta2
      m = b1 * m + (1 - b1) * g
      v = b2 * v + (1 - b2) * g * g
      num = (b1 * m + (1 - b1) * g) if hp.algorithm == 'nadamw' else m
      p = p - lr * (num / (1 - b1**t) / (np.sqrt(v / (1 - b2**t)) + 1e-8) + hp.weight_decay * p)
    else:
      m = g + b1 * m
      d = g + b1 * m if hp.algorithm == 'nesterov' else m
      p = p - lr * (d + hp.weight_decay * p)
  return p


def _data():
  rng = np.random.RandomState(0)
  return rng.randn(3, 5).astype(np.float32), [rng.randn(3, 5).astype(np.float32) for _ in range(20)]


def _jax_run(hp):
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  from tools.target_setting import jax_submission  # pylint: disable=import-outside-toplevel
  p0, grads = _data()
  opt = jax_submission.make_optimizer(hp, STEP_HINT)
  params = {'w': jnp.asarray(p0)}
  state = opt.init(params)
  for g in grads:
    params, state = opt.step({'w': jnp.asarray(g)}, state, params)
  return np.asarray(params['w'])


def _torch_run(hp):
  import torch  # pylint: disable=import-outside-toplevel
  from tools.target_setting import pytorch_submission  # pylint: disable=import-outside-toplevel
  p0, grads = _data()
  w = torch.nn.Parameter(torch.tensor(p0))
  opt, sched = pytorch_submission.make_optimizer([w], hp, STEP_HINT)
  for g in grads:
    w.grad = torch.tensor(g)
    opt.step()
    sched.step()
  return w.detach().numpy()


@pytest.mark.parametrize('algorithm', search_spaces.ALGORITHMS)
@pytest.mark.parametrize('kernels', ['on', 'off'])
def test_update_rules_match_the_numpy_reference_in_both_frameworks(algorithm, kernels, monkeypatch):
  monkeypatch.setenv('ALGOPERF_KERNELS', kernels)
  hp = _hp(algorithm)
  p0, grads = _data()
  expected = _reference(hp, p0, grads)
  np.testing.assert_allclose(_jax_run(hp), expected, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(_torch_run(hp), expected, rtol=1e-5, atol=1e-6)


def test_search_spaces_draw_valid_points_centred_on_the_published_ones():
  for algorithm in search_spaces.ALGORITHMS:
    points = search_spaces.draw(algorithm, 20, seed=1)
    assert len(points) == 20 and all(p['algorithm'] == algorithm for p in points)
    for name, spec in search_spaces.SPACES[algorithm].items():
      values = [p[name] for p in points]
      assert all(spec['min'] <= x <= spec['max'] for x in values)
      assert len(set(values)) == 20  # Quasi-random: no repeats.
  assert search_spaces.draw('nadamw', 5, seed=3) == search_spaces.draw('nadamw', 5, seed=3)
  # The published winners lie inside (harness.md §5.2): ogbg's Nesterov lr 2.4918, criteo's NadamW 1 - beta2.
  assert search_spaces.SPACES['nesterov']['learning_rate']['min'] < 2.4918 < search_spaces.SPACES['nesterov'][
      'learning_rate']['max']
  assert search_spaces.SPACES['nadamw']['one_minus_beta2']['min'] < 1 - 0.99879
  with pytest.raises(ValueError, match='Unknown target-setting algorithm'):
    search_spaces.draw('sgd', 2, seed=0)

"""untimed_jit: identical untimed programs compile once per process; anything that differs compiles apart."""
import os

import jax
import jax.numpy as jnp
import numpy as np

from algoperf import random_utils as prng
from workloads import registry
from workloads.common import untimed_jit as uj

MNIST_SMOKE = os.path.join(os.path.dirname(__file__), '..', '..', 'tools', 'datasets', 'smoke')


def _scaled_matmul(scale):
  # A new closure per call: to jax.jit these are different functions, as a new trial's workload methods are.
  return lambda params, batch: {'sum': (params['w'] @ batch['x']).sum() * scale, 'rows': batch['x'].shape[0]}


_backend_compiles = [0]


def _count_backend_compile(event, duration_secs, **kwargs):
  del duration_secs, kwargs
  if event == '/jax/core/compile/backend_compile_duration':
    _backend_compiles[0] += 1


jax.monitoring.register_event_duration_secs_listener(_count_backend_compile)


def _compiles_during(fn):
  """(fn(), XLA compilations it ran): counted by JAX itself, so a plain jax.jit's compiles count too."""
  before = _backend_compiles[0]
  result = fn()
  return result, _backend_compiles[0] - before


def test_the_same_program_from_a_new_closure_reuses_the_executable():
  params, batch = {'w': jnp.arange(12.0).reshape(3, 4)}, {'x': np.ones((4, 5), np.float32)}
  first, compiles = _compiles_during(lambda: uj.untimed_jit(_scaled_matmul(2.0))(params, batch))
  assert compiles == 1
  again, compiles = _compiles_during(lambda: uj.untimed_jit(_scaled_matmul(2.0))(params, batch))
  assert compiles == 0
  expected = jax.jit(_scaled_matmul(2.0))(params, batch)
  assert float(first['sum']) == float(again['sum']) == float(expected['sum']) == 66.0 * 5 * 2
  assert int(again['rows']) == 4


def test_a_different_constant_or_shape_is_a_different_program():
  params, batch = {'w': jnp.ones((3, 4))}, {'x': np.ones((4, 5), np.float32)}
  uj.untimed_jit(_scaled_matmul(1.0))(params, batch)
  tripled, compiles = _compiles_during(lambda: uj.untimed_jit(_scaled_matmul(3.0))(params, batch))
  assert compiles == 1 and float(tripled['sum']) == 60.0 * 3
  wider, compiles = _compiles_during(
      lambda: uj.untimed_jit(_scaled_matmul(1.0))(params, {'x': np.ones((4, 7), np.float32)}))
  assert compiles == 1 and float(wider['sum']) == 84.0


def test_one_function_called_with_two_shapes_keeps_both_programs():
  fn = uj.untimed_jit(lambda x: x * 2)
  np.testing.assert_array_equal(fn(jnp.ones(3)), 2 * np.ones(3))
  np.testing.assert_array_equal(fn(jnp.ones((2, 2))), 2 * np.ones((2, 2)))
  _, compiles = _compiles_during(lambda: (fn(jnp.ones(3)), fn(jnp.ones((2, 2)))))
  assert compiles == 0


def test_a_second_trials_workload_compiles_no_init_or_eval():
  """What a reused benchmark worker sees: a fresh workload object per trial, the same programs."""
  prng.set_framework('jax')

  def one_trial():
    workload = registry.import_workload('mnist', 'jax', scale='smoke')
    params, state = workload.init_model_fn(prng.PRNGKey(0))
    return workload.eval_model(workload.eval_batch_size, params, state, prng.PRNGKey(1), MNIST_SMOKE, None, 0)

  first = one_trial()
  second, compiles = _compiles_during(one_trial)
  assert compiles == 0
  assert first == second


def test_a_second_trials_jitted_init_compiles_nothing_and_gives_the_same_params():
  prng.set_framework('jax')
  for name in ('ogbg', 'criteo1tb', 'fastmri', 'cifar'):
    first = registry.import_workload(name, 'jax', scale='smoke').init_model_fn(prng.PRNGKey(3))[0]
    second, compiles = _compiles_during(
        lambda name=name: registry.import_workload(name, 'jax', scale='smoke').init_model_fn(prng.PRNGKey(3))[0])
    assert compiles == 0, name
    jax.tree.map(np.testing.assert_array_equal, first, second)


def test_under_a_transformation_it_traces_like_jax_jit():
  """Full-scale parameter counts come from jax.eval_shape(init_model_fn): no compile, no executable."""
  fn = uj.untimed_jit(lambda x: {'y': x @ x.T})
  shapes, compiles = _compiles_during(lambda: jax.eval_shape(fn, jax.ShapeDtypeStruct((1000, 3), jnp.float32)))
  assert shapes['y'].shape == (1000, 1000) and compiles == 0
  np.testing.assert_allclose(jax.grad(lambda x: fn(x)['y'].sum())(jnp.ones((2, 3))), 4 * np.ones((2, 3)))

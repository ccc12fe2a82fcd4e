"""What the OGBG tests share: the fixture data folder, a real batch, and twin models with mapped weights."""
import os

import jax
import numpy as np

from algoperf import random_utils as prng
from workloads import registry
from workloads.ogbg import param_mapping

# The //workloads/ogbg:ogbg_smoke_data genrule output; OGBG_TEST_DATA_DIR points elsewhere when iterating.
DATA_DIR = os.environ.get('OGBG_TEST_DATA_DIR', os.path.join(os.path.dirname(__file__), 'smoke_data'))
KEYS = ('ogbg', 'ogbg_gelu', 'ogbg_silu', 'ogbg_model_size')


def workloads(key: str = 'ogbg', scale: str = 'smoke'):
  return (registry.import_workload(key, 'jax', scale=scale), registry.import_workload(key, 'pytorch', scale=scale))


def real_batch(split: str = 'validation', batch_size: int = 32):
  """The first padded batch of a split of the fixture molecules (numpy)."""
  workload = registry.import_workload('ogbg', 'jax', scale='smoke')
  return next(iter(workload._build_numpy_queue(np.array([0, 1], np.uint32), split, DATA_DIR, batch_size)))  # pylint: disable=protected-access


def mapped_models(key: str):
  """(jax workload, torch workload, Flax params copied from the torch model, torch model)."""
  jax_workload, torch_workload = workloads(key)
  prng.set_framework('jax')
  jax.eval_shape(jax_workload.init_model_fn, jax.random.PRNGKey(0))  # Builds the Flax module only.
  prng.set_framework('pytorch')
  model, _ = torch_workload.init_model_fn(prng.PRNGKey(0))
  config = torch_workload.config.model
  params = param_mapping.torch_to_flax(model.state_dict(), config['hidden_dims'], config['num_message_passing_steps'])
  return jax_workload, torch_workload, jax.tree.map(jax.numpy.asarray, params), model


_COMPILED = {}


def jax_forward(workload, params, batch, mode=None, rng=None, dropout_rate=None):
  """model_fn under jit, compiled once per (workload, mode, rate): eager Flax compiles every op separately."""
  from algoperf import spec  # pylint: disable=import-outside-toplevel
  mode = spec.ForwardPassMode.EVAL if mode is None else mode
  key = (id(workload), mode, dropout_rate)
  if key not in _COMPILED:
    _COMPILED[key] = jax.jit(
        lambda p, b, r: workload.model_fn(p, b, None, mode, r, False, dropout_rate=dropout_rate)[0])
  return np.asarray(_COMPILED[key](params, jax.tree.map(jax.numpy.asarray, batch), rng))

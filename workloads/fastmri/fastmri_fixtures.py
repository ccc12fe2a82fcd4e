"""What the fastMRI tests share: the fixture data folder, real batches, and twin models with mapped weights."""
import os

import jax
import numpy as np
import torch

from algoperf import random_utils as prng
from workloads import registry
from workloads.fastmri import twin_weights

# The //workloads/fastmri:fastmri_smoke_data genrule output; FASTMRI_TEST_DATA_DIR points elsewhere when
# iterating outside Bazel.
DATA_DIR = os.environ.get('FASTMRI_TEST_DATA_DIR', os.path.join(os.path.dirname(__file__), 'smoke_data'))
KEYS = ('fastmri', 'fastmri_model_size', 'fastmri_tanh', 'fastmri_layernorm')

# Tests run beside other tests on 2 cores: two OpenMP threads per process oversubscribe them, and small
# convolutions then run 5x slower than on one thread.
torch.set_num_threads(1)


def workloads(key: str = 'fastmri', scale: str = 'smoke'):
  return (registry.import_workload(key, 'jax', scale=scale), registry.import_workload(key, 'pytorch', scale=scale))


def real_batch(split: str = 'validation', batch_size: int = 8, scale: str = 'smoke'):
  """The first padded batch of an eval split of the fixture (numpy)."""
  workload = registry.import_workload('fastmri', 'jax', scale=scale)
  return next(iter(workload._build_numpy_queue(None, split, DATA_DIR, batch_size)))  # pylint: disable=protected-access


def mapped_models(key: str, scale: str = 'smoke'):
  """(jax workload, torch workload, Flax params copied from the torch model, torch model)."""
  jax_workload, torch_workload = workloads(key, scale)
  prng.set_framework('jax')
  jax_workload.init_model_fn(jax.random.PRNGKey(0))  # Builds the Flax module.
  prng.set_framework('pytorch')
  model, _ = torch_workload.init_model_fn(prng.PRNGKey(0))
  params = twin_weights.torch_to_flax(model, torch_workload.use_layer_norm)
  return jax_workload, torch_workload, jax.tree.map(jax.numpy.asarray, params), model


def random_images(shape, seed: int = 0) -> np.ndarray:
  return np.random.RandomState(seed).normal(size=shape).astype(np.float32)

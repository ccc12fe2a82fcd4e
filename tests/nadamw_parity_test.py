"""The NAdamW baseline gives the same training losses in JAX and PyTorch from the same weights and batches."""
import json
import os

import jax
import numpy as np
import pytest
import torch

from algoperf import random_utils as prng
from algoperf import spec
from algoperf import submission_loader
from algoperf import tuning
from workloads import registry
from workloads.mnist import twins

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
DATA_DIR = os.environ.get('MNIST_SMOKE_DATA_DIR', os.path.join(ROOT, 'tools', 'datasets', 'smoke'))
BASELINE = os.path.join(ROOT, 'submissions', 'external_tuning', 'nadamw_baseline')
STEPS = 60


def _mean_loss_jax(workload, params, batch):
  logits, _ = workload.model_fn(params, batch, None, spec.ForwardPassMode.EVAL, None, False)
  loss = workload.loss_fn(batch['targets'], logits, batch['weights'])
  return float(loss['summed'] / loss['n_valid_examples'])


def _mean_loss_torch(workload, model, batch):
  logits, _ = workload.model_fn(model, batch, None, spec.ForwardPassMode.EVAL, None, False)
  loss = workload.loss_fn(batch['targets'], logits, batch['weights'])
  return float(loss['summed'] / loss['n_valid_examples'])


@pytest.mark.parametrize('point', [0, 3])  # Point 1 has label smoothing; point 4 a low beta2 and high lr.
def test_same_weights_and_batches_give_the_same_losses(point):
  with open(os.path.join(BASELINE, 'tuning_search_space.json')) as f:
    hyperparameters = tuning.to_hyperparameters(json.load(f)[point])
  jax_sub = submission_loader.load_submission(os.path.join(BASELINE, 'jax_submission.py'))
  torch_sub = submission_loader.load_submission(os.path.join(BASELINE, 'pytorch_submission.py'))
  jax_workload = registry.import_workload('mnist', 'jax', scale='smoke')
  torch_workload = registry.import_workload('mnist', 'pytorch', scale='smoke')

  prng.set_framework('jax')
  params, _ = jax_workload.init_model_fn(jax.random.PRNGKey(0))
  prng.set_framework('pytorch')
  model, _ = torch_workload.init_model_fn(prng.PRNGKey(0))
  twins.copy_jax_params_to_torch(params, model)

  jax_state = jax_sub.init_optimizer_state(jax_workload, params, None, hyperparameters, None)
  torch_state = torch_sub.init_optimizer_state(torch_workload, model, None, hyperparameters, None)
  queue = jax_workload._build_numpy_queue(np.array([0, 1], np.uint32), 'train', DATA_DIR, 16)  # pylint: disable=protected-access
  jax_losses, torch_losses = [], []
  for step in range(STEPS):
    batch = next(queue)
    jax_batch = {k: jax.numpy.asarray(v) for k, v in batch.items()}
    torch_batch = {k: torch.from_numpy(v) for k, v in batch.items()}
    jax_losses.append(_mean_loss_jax(jax_workload, params, jax_batch))
    torch_losses.append(_mean_loss_torch(torch_workload, model, torch_batch))
    jax_state, params, _ = jax_sub.update_params(jax_workload, params, None, None, hyperparameters, jax_batch,
                                                 None, jax_state, [], step, jax.random.PRNGKey(step))
    torch_state, model, _ = torch_sub.update_params(torch_workload, model, None, None, hyperparameters,
                                                    torch_batch, None, torch_state, [], step, None)
  np.testing.assert_allclose(jax_losses, torch_losses, rtol=1e-4, atol=1e-5)
  assert jax_losses[-1] < jax_losses[0] - 0.3  # The step moves: a test of a frozen model would also match.

"""Test helper: train a submission's JAX and PyTorch twins from the same MNIST weights on the same batches.

Used by the submissions' parity tests (the pattern of tests/nadamw_parity_test.py). Returns each twin's
training loss before every step, evaluated on the batch about to be used.
"""
import os
from typing import Dict, List, Tuple

import numpy as np

from algoperf import random_utils as prng
from algoperf import spec
from algoperf import submission_loader
from workloads import registry
from workloads.mnist import twins

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
DATA_DIR = os.environ.get('MNIST_SMOKE_DATA_DIR', os.path.join(ROOT, 'tools', 'datasets', 'smoke'))


def _mean_loss(workload, params, batch) -> float:
  logits, _ = workload.model_fn(params, batch, None, spec.ForwardPassMode.EVAL, None, False)
  loss = workload.loss_fn(batch['targets'], logits, batch['weights'])
  return float(loss['summed'] / loss['n_valid_examples'])


def mnist_losses(folder: str, hyperparameters, steps: int, batch_size: int = 16) -> Tuple[List[float], List[float]]:
  import jax  # pylint: disable=import-outside-toplevel
  import torch  # pylint: disable=import-outside-toplevel
  jax_sub = submission_loader.load_submission(os.path.join(folder, 'jax_submission.py'))
  torch_sub = submission_loader.load_submission(os.path.join(folder, 'pytorch_submission.py'))
  jax_workload = registry.import_workload('mnist', 'jax', scale='smoke')
  torch_workload = registry.import_workload('mnist', 'pytorch', scale='smoke')
  prng.set_framework('jax')
  params, _ = jax_workload.init_model_fn(jax.random.PRNGKey(0))
  prng.set_framework('pytorch')
  model, _ = torch_workload.init_model_fn(prng.PRNGKey(0))
  twins.copy_jax_params_to_torch(params, model)
  jax_state = jax_sub.init_optimizer_state(jax_workload, params, None, hyperparameters, None)
  torch_state = torch_sub.init_optimizer_state(torch_workload, model, None, hyperparameters, None)
  queue = jax_workload._build_numpy_queue(np.array([0, 1], np.uint32), 'train', DATA_DIR, batch_size)  # pylint: disable=protected-access
  jax_losses, torch_losses = [], []
  for step in range(steps):
    batch: Dict[str, np.ndarray] = next(queue)
    jax_batch = {k: jax.numpy.asarray(v) for k, v in batch.items()}
    torch_batch = {k: torch.from_numpy(v) for k, v in batch.items()}
    jax_losses.append(_mean_loss(jax_workload, params, jax_batch))
    torch_losses.append(_mean_loss(torch_workload, model, torch_batch))
    jax_state, params, _ = jax_sub.update_params(jax_workload, params, None, None, hyperparameters, jax_batch,
                                                 None, jax_state, [], step, jax.random.PRNGKey(step))
    torch_state, model, _ = torch_sub.update_params(torch_workload, model, None, None, hyperparameters,
                                                    torch_batch, None, torch_state, [], step, None)
  return jax_losses, torch_losses

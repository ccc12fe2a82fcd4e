"""Sinv6 and Sinv6 75 submissions: JAX and PyTorch train MNIST (smoke) alike from the same weights and batches."""
import os

import jax
import numpy as np
import pytest
import torch

from algoperf import random_utils as prng
from algoperf import spec
from algoperf import submission_loader
from workloads import registry
from workloads.mnist import twins

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..')
DATA_DIR = os.environ.get('MNIST_SMOKE_DATA_DIR', os.path.join(ROOT, 'tools', 'datasets', 'smoke'))
STEPS = 20


def _mean_loss(workload, params, batch):
  logits, _ = workload.model_fn(params, batch, None, spec.ForwardPassMode.EVAL, None, False)
  loss = workload.loss_fn(batch['targets'], logits, batch['weights'])
  return float(loss['summed'] / loss['n_valid_examples'])


@pytest.mark.parametrize('folder,fraction', [('sinv6', 1.0), ('sinv6_75', 0.75)])
def test_jax_and_pytorch_give_the_same_losses(folder, fraction):
  path = os.path.join(ROOT, 'submissions', 'self_tuning', folder)
  jax_sub = submission_loader.load_submission(os.path.join(path, 'jax_submission.py'))
  torch_sub = submission_loader.load_submission(os.path.join(path, 'pytorch_submission.py'))
  assert jax_sub.get_batch_size('mnist') == torch_sub.get_batch_size('mnist') == 16
  jax_workload = registry.import_workload('mnist', 'jax', scale='smoke')
  torch_workload = registry.import_workload('mnist', 'pytorch', scale='smoke')

  prng.set_framework('jax')
  params, _ = jax_workload.init_model_fn(jax.random.PRNGKey(0))
  prng.set_framework('pytorch')
  model, _ = torch_workload.init_model_fn(prng.PRNGKey(0))
  twins.copy_jax_params_to_torch(params, model)

  jax_state = jax_sub.init_optimizer_state(jax_workload, params, None, None, None)
  torch_state = torch_sub.init_optimizer_state(torch_workload, model, None, None, None)
  want_steps = int(fraction * jax_workload.step_hint)
  assert float(jax_state['state'].scheduler.num_steps) == want_steps
  assert torch_state['optimizer'].scheduler.num_steps == want_steps
  queue = jax_workload._build_numpy_queue(np.array([0, 1], np.uint32), 'train', DATA_DIR, 16)  # pylint: disable=protected-access
  jax_losses, torch_losses, lr_mults = [], [], []
  for step in range(STEPS):
    batch = next(queue)
    jax_batch = {k: jax.numpy.asarray(v) for k, v in batch.items()}
    torch_batch = {k: torch.from_numpy(v) for k, v in batch.items()}
    jax_losses.append(_mean_loss(jax_workload, params, jax_batch))
    torch_losses.append(_mean_loss(torch_workload, model, torch_batch))
    jax_state, params, _ = jax_sub.update_params(jax_workload, params, None, None, None, jax_batch, None,
                                                 jax_state, [], step, jax.random.PRNGKey(step))
    torch_state, model, _ = torch_sub.update_params(torch_workload, model, None, None, None, torch_batch, None,
                                                    torch_state, [], step, None)
    lr_mults.append(torch_state['optimizer'].last_lr_mult.item())
  np.testing.assert_allclose(jax_losses, torch_losses, rtol=1e-4, atol=1e-5)
  assert jax_losses[-1] < jax_losses[0] - 0.1  # the step moves: a frozen model would also match
  assert int(jax_state['state'].scheduler.iteration) == STEPS and all(m > 0 for m in lr_mults)


def test_silu_and_gelu_fall_back_to_the_base_batch_size():
  sub = submission_loader.load_submission(os.path.join(ROOT, 'submissions', 'self_tuning', 'sinv6',
                                                       'jax_submission.py'))
  assert sub.get_batch_size('imagenet_resnet') == 1024
  with pytest.raises(ValueError):
    sub.get_batch_size('imagenet_resnet_silu')

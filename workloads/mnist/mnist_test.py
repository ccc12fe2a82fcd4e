"""MNIST: the twins match (shapes, counts, forward outputs on mapped weights); data, loss and eval work."""
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from algoperf import random_utils as prng
from algoperf import spec
from workloads import registry
from workloads.common import param_count
from workloads.mnist import twins

DATA_DIR = os.environ.get('MNIST_SMOKE_DATA_DIR',
                          os.path.join(os.path.dirname(__file__), '..', '..', 'tools', 'datasets', 'smoke'))


def _workloads(scale='smoke'):
  return (registry.import_workload('mnist', 'jax', scale=scale),
          registry.import_workload('mnist', 'pytorch', scale=scale))


def test_full_scale_param_counts_match_the_spec():
  jax_workload, torch_workload = _workloads('full')
  assert param_count.count(param_count.param_shapes(jax_workload, 'jax')) == (101_770, 4)
  assert param_count.count(param_count.param_shapes(torch_workload, 'pytorch')) == (101_770, 4)


def _mapped_models():
  """A JAX init and the PyTorch model with the same weights (Dense kernels are transposed Linear weights)."""
  jax_workload, torch_workload = _workloads()
  prng.set_framework('jax')
  params, _ = jax_workload.init_model_fn(jax.random.PRNGKey(0))
  prng.set_framework('pytorch')
  model, _ = torch_workload.init_model_fn(prng.PRNGKey(0))
  twins.copy_jax_params_to_torch(params, model)
  return jax_workload, torch_workload, params, model


def test_forward_outputs_match_on_mapped_weights():
  jax_workload, torch_workload, params, model = _mapped_models()
  x = np.random.RandomState(0).normal(size=(8, 28, 28, 1)).astype(np.float32)
  jax_logits, _ = jax_workload.model_fn(params, {'inputs': jnp.asarray(x)}, None, spec.ForwardPassMode.EVAL,
                                        None, False)
  torch_logits, _ = torch_workload.model_fn(model, {'inputs': torch.from_numpy(x)}, None,
                                            spec.ForwardPassMode.EVAL, None, False)
  np.testing.assert_allclose(np.asarray(jax_logits), torch_logits.numpy(), atol=1e-5)


def test_forward_is_the_sequential_bit_for_bit():
  # Model.forward calls the layers' ops directly (a speed-up); it must stay the Sequential's computation.
  _, torch_workload = _workloads()
  prng.set_framework('pytorch')
  model, _ = torch_workload.init_model_fn(prng.PRNGKey(3))
  x = torch.from_numpy(np.random.RandomState(2).normal(size=(16, 28, 28, 1)).astype(np.float32))
  logits = model(x)
  assert torch.equal(logits, model.net(x.reshape(16, -1)))
  grads = torch.autograd.grad(logits.square().sum(), list(model.parameters()))
  reference = torch.autograd.grad(model.net(x.reshape(16, -1)).square().sum(), list(model.parameters()))
  assert all(torch.equal(g, r) for g, r in zip(grads, reference))


def test_losses_match_with_label_smoothing_and_mask():
  jax_workload, torch_workload = _workloads()
  rs = np.random.RandomState(1)
  logits = rs.normal(size=(6, 10)).astype(np.float32)
  labels = rs.randint(0, 10, size=6)
  mask = np.array([1, 1, 1, 1, 0, 0], np.float32)
  jl = jax_workload.loss_fn(jnp.asarray(labels), jnp.asarray(logits), jnp.asarray(mask), 0.1)
  tl = torch_workload.loss_fn(torch.from_numpy(labels), torch.from_numpy(logits), torch.from_numpy(mask), 0.1)
  assert float(jl['n_valid_examples']) == float(tl['n_valid_examples']) == 4
  np.testing.assert_allclose(float(jl['summed']), float(tl['summed']), rtol=1e-6)
  assert float(jl['per_example'][4]) == 0.0


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_eval_on_real_digits_covers_every_split(framework):
  workload = registry.import_workload('mnist', framework, scale='smoke')
  prng.set_framework(framework)
  params, state = workload.init_model_fn(prng.PRNGKey(0))
  metrics = workload.eval_model(workload.eval_batch_size, params, state, prng.PRNGKey(1), DATA_DIR, None, 0)
  assert set(metrics) >= {'train/accuracy', 'validation/accuracy', 'test/accuracy', 'validation/loss'}
  assert 0.0 <= metrics['validation/accuracy'] <= 0.3  # An untrained model is near chance.
  assert metrics['validation/num_examples'] == 500


def test_train_batches_are_a_pure_function_of_seed_and_step():
  workload = registry.import_workload('mnist', 'jax', scale='smoke')
  queue = workload._build_numpy_queue(np.array([0, 7], np.uint32), 'train', DATA_DIR, 32)  # pylint: disable=protected-access
  batches = [next(queue) for _ in range(70)]  # Crosses an epoch boundary (2,000 / 32 = 62 per epoch).
  resumed = workload._build_numpy_queue(np.array([0, 7], np.uint32), 'train', DATA_DIR, 32, start_step=65)  # pylint: disable=protected-access
  np.testing.assert_array_equal(next(resumed)['inputs'], batches[65]['inputs'])
  assert not np.array_equal(batches[0]['targets'], batches[62]['targets'])  # A new epoch reshuffles.


def test_missing_data_names_the_command():
  workload = registry.import_workload('mnist', 'jax', scale='smoke')
  with pytest.raises(FileNotFoundError, match='make_datasets -- --dataset=mnist'):
    workload.check_data('/nonexistent')

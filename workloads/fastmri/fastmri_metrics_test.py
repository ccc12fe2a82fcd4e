"""SSIM and the L1 loss: JAX, PyTorch and a scipy-based reference agree; eval metrics agree across twins."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage
import torch

from algoperf import random_utils as prng
from workloads.fastmri import fastmri_fixtures
from workloads.fastmri import ssim as ssim_reference
from workloads.fastmri.jax import ssim as jax_ssim
from workloads.fastmri.pytorch import ssim as torch_ssim


def _all_three(outputs, targets, mean, std, volume_max):
  args = (outputs, targets, mean, std, volume_max)
  jax_value = np.asarray(jax.jit(jax_ssim.ssim)(*[jnp.asarray(a) for a in args]))
  torch_value = torch_ssim.ssim(*[torch.from_numpy(np.asarray(a)) for a in args]).numpy()
  return jax_value, torch_value, ssim_reference.ssim_numpy(*args)


def _stats(n, seed=0):
  rs = np.random.RandomState(seed)
  mean = rs.uniform(1e-5, 1e-4, n).astype(np.float32)
  std = rs.uniform(1e-5, 1e-4, n).astype(np.float32)
  return mean, std, np.full(n, 5e-4, np.float32)


@pytest.mark.parametrize('shape', [(3, 20, 20), (2, 33, 47), (1, 8, 8)])
def test_ssim_agrees_across_frameworks_and_with_the_reference(shape):
  targets = fastmri_fixtures.random_images(shape, 0)
  outputs = targets + 0.5 * fastmri_fixtures.random_images(shape, 1)
  jax_value, torch_value, reference = _all_three(outputs, targets, *_stats(shape[0]))
  np.testing.assert_allclose(jax_value, reference, atol=2e-5)
  np.testing.assert_allclose(torch_value, reference, atol=2e-5)
  assert ((-1 <= reference) & (reference < 0.99)).all()


def test_box_mean_is_scipys_uniform_filter():
  """The shifted-sum window means (every implementation's filter) against scipy's, on symmetric padding."""
  images = fastmri_fixtures.random_images((2, 3, 20, 17)).astype(np.float64)
  padded = np.pad(images, ((0, 0), (0, 0), (3, 3), (3, 3)), mode='symmetric')
  expected = ndimage.uniform_filter(images, (1, 1, 7, 7), mode='reflect')
  np.testing.assert_allclose(ssim_reference.box_mean(padded), expected, rtol=0, atol=1e-14)


def test_ssim_on_real_slices_of_the_fixture():
  """Zero-filled inputs scored against their targets: the same number in every implementation."""
  batch = fastmri_fixtures.real_batch('validation')
  args = (batch['inputs'], batch['targets'], batch['mean'], batch['std'], batch['volume_max'])
  jax_value, torch_value, reference = _all_three(*args)
  np.testing.assert_allclose(jax_value, reference, atol=2e-5)
  np.testing.assert_allclose(torch_value, reference, atol=2e-5)
  assert 0.3 < reference.mean() < 0.95  # 4x undersampling blurs and aliases, but the anatomy is there.
  identical = _all_three(batch['targets'], *args[1:])
  for value in identical:
    np.testing.assert_allclose(value, 1.0, atol=1e-5)


def test_ssim_uses_the_volume_max_as_data_range_and_survives_padding():
  targets = fastmri_fixtures.random_images((3, 16, 16), 2)
  outputs = targets + fastmri_fixtures.random_images((3, 16, 16), 3)
  mean, std, _ = _stats(3)
  small, large = _all_three(outputs, targets, mean, std, np.full(3, 1e-4, np.float32))[2], \
      _all_three(outputs, targets, mean, std, np.full(3, 1e-2, np.float32))[2]
  assert (large > small + 0.1).all()  # A larger range means larger c1, c2: the same error looks smaller.
  zeros = np.zeros((2, 16, 16), np.float32)  # Padded rows: everything zero, volume_max 0.
  for value in _all_three(zeros, zeros, np.zeros(2, np.float32), np.zeros(2, np.float32), np.zeros(2, np.float32)):
    assert np.isfinite(value).all()


def test_losses_match_across_frameworks_with_a_mask():
  jax_workload, torch_workload = fastmri_fixtures.workloads()
  targets = fastmri_fixtures.random_images((4, 6, 5), 4)
  outputs = fastmri_fixtures.random_images((4, 6, 5), 5)
  mask = np.array([1, 1, 0, 1], np.float32)
  jl = jax_workload.loss_fn(jnp.asarray(targets), jnp.asarray(outputs), jnp.asarray(mask), 0.1)
  tl = torch_workload.loss_fn(torch.from_numpy(targets), torch.from_numpy(outputs), torch.from_numpy(mask), 0.1)
  expected = np.abs(outputs - targets).mean(axis=(1, 2)) * mask
  np.testing.assert_allclose(np.asarray(jl['per_example']), expected, rtol=1e-6)
  np.testing.assert_allclose(tl['per_example'].numpy(), expected, rtol=1e-6)
  np.testing.assert_allclose(float(jl['summed']), expected.sum(), rtol=1e-6)
  np.testing.assert_allclose(float(tl['summed']), expected.sum(), rtol=1e-6)
  assert float(jl['n_valid_examples']) == float(tl['n_valid_examples']) == 3
  unmasked = jax_workload.loss_fn(jnp.asarray(targets), jnp.asarray(outputs))
  assert float(unmasked['n_valid_examples']) == 4


@pytest.mark.parametrize('key', ['fastmri', 'fastmri_layernorm'])
def test_eval_metrics_match_across_frameworks_on_mapped_weights(key):
  jax_workload, torch_workload, params, model = fastmri_fixtures.mapped_models(key)
  prng.set_framework('jax')
  jax_metrics = jax_workload.eval_model(8, params, None, jax.random.PRNGKey(0), fastmri_fixtures.DATA_DIR, None, 0)
  prng.set_framework('pytorch')
  torch_metrics = torch_workload.eval_model(8, model, None, prng.PRNGKey(0), fastmri_fixtures.DATA_DIR, None, 0)
  assert set(jax_metrics) == set(torch_metrics) == {
      'train/ssim', 'train/loss', 'validation/ssim', 'validation/loss', 'validation/num_examples',
      'test/ssim', 'test/loss', 'test/num_examples'}
  for name, value in jax_metrics.items():
    np.testing.assert_allclose(value, torch_metrics[name], rtol=1e-4, err_msg=name)
  assert 0.0 < jax_metrics['validation/ssim'] < 0.6  # An untrained U-Net is worse than the zero-filled input.

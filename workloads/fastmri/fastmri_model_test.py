"""fastMRI U-Net twins: full-scale counts as published, same types, same outputs on mapped weights."""
import collections
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from algoperf import random_utils as prng
from algoperf import spec
from workloads import registry
from workloads.common import param_count
from workloads.fastmri import fastmri_fixtures
from workloads.fastmri import twin_weights
from workloads.fastmri.jax import models as jax_models
from workloads.fastmri.pytorch import models as torch_models

# spec/variants.md §1: (parameters, tensors), the same in both frameworks.
PUBLISHED = {
    'fastmri': (7_756_097, 24),
    'fastmri_model_size': (7_692_929, 19),
    'fastmri_tanh': (7_756_097, 24),
    'fastmri_layernorm': (7_761_985, 60),
}


@functools.lru_cache(maxsize=None)
def _full_scale(key: str):
  """(jax workload, torch workload, jax shapes, torch shapes) at full scale, from shapes alone (cached)."""
  jax_workload, torch_workload = fastmri_fixtures.workloads(key, 'full')
  return (jax_workload, torch_workload, param_count.param_shapes(jax_workload, 'jax'),
          param_count.param_shapes(torch_workload, 'pytorch'))


def _max_relative_difference(a, b) -> float:
  a, b = np.asarray(a), np.asarray(b)
  return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
@pytest.mark.parametrize('key', list(PUBLISHED))
def test_full_scale_counts_match_the_published_ones(key, framework):
  shapes = _full_scale(key)[2 if framework == 'jax' else 3]
  assert param_count.count(shapes) == PUBLISHED[key]


@pytest.mark.parametrize('key', list(PUBLISHED))
def test_full_scale_twins_have_the_same_parameter_types_and_sizes(key):
  jax_workload, torch_workload, _, _ = _full_scale(key)  # init_model_fn set the shapes and types.
  jax_pairs = collections.Counter(
      (kind, int(np.prod(shape.shape_tuple))) for kind, shape in
      zip(jax.tree.leaves(jax_workload.model_params_types), jax.tree.leaves(jax_workload.param_shapes)))
  torch_pairs = collections.Counter(
      (torch_workload.model_params_types[name], int(np.prod(shape.shape_tuple)))
      for name, shape in torch_workload.param_shapes.items())
  assert jax_pairs == torch_pairs
  kinds = set(k for k, _ in jax_pairs)
  expected = {spec.ParameterType.CONV_WEIGHT, spec.ParameterType.BIAS}
  if key == 'fastmri_layernorm':
    expected |= {spec.ParameterType.LAYER_NORM_SCALE, spec.ParameterType.LAYER_NORM_BIAS}
  assert kinds == expected


@pytest.mark.parametrize('key', list(PUBLISHED))
def test_is_output_params_names_the_final_conv_in_both_frameworks(key):
  jax_workload, torch_workload, _, shapes = _full_scale(key)
  outputs = {name: shape for name, shape in shapes.items() if torch_workload.is_output_params(name)}
  width = 64 if key == 'fastmri_model_size' else 32
  assert sorted(outputs.values()) == [(1,), (1, width, 1, 1)]
  assert jax_workload.is_output_params('Conv_0') and not jax_workload.is_output_params('ConvBlock_0')
  assert jax_workload.param_shapes['Conv_0']['kernel'].shape_tuple == (1, 1, width, 1)


@pytest.mark.parametrize('key', list(PUBLISHED))
def test_forward_outputs_match_on_mapped_weights(key):
  jax_workload, torch_workload, params, model = fastmri_fixtures.mapped_models(key)
  inputs = fastmri_fixtures.real_batch()['inputs']  # Real slices, 8 x 80 x 80.
  jax_out, _ = jax.jit(lambda p, x: jax_workload.model_fn(
      p, {'inputs': x}, None, spec.ForwardPassMode.EVAL, None, False))(params, jnp.asarray(inputs))
  torch_out, _ = torch_workload.model_fn(model, {'inputs': torch.from_numpy(inputs)}, None,
                                         spec.ForwardPassMode.EVAL, None, False)
  assert jax_out.shape == torch_out.shape == inputs.shape
  assert _max_relative_difference(jax_out, torch_out.numpy()) < 1e-4


def test_odd_sizes_are_reflect_padded_alike():
  """21 x 19 pools to 10 x 9 and 5 x 4: the upsampled maps are short by one and padded at bottom/right."""
  jax_model = jax_models.UNet(num_channels=4, num_pool_layers=2)
  torch_model = torch_models.UNet(num_channels=4, num_pool_layers=2).eval()
  params = jax.tree.map(jnp.asarray, twin_weights.torch_to_flax(torch_model, use_layer_norm=False))
  x = fastmri_fixtures.random_images((2, 21, 19))
  jax_out = jax.jit(lambda p, x: jax_model.apply({'params': p}, x, train=False))(params, jnp.asarray(x))
  with torch.no_grad():
    torch_out = torch_model(torch.from_numpy(x))
  assert jax_out.shape == (2, 21, 19)
  assert _max_relative_difference(jax_out, torch_out.numpy()) < 1e-4


def test_channel_dropout_drops_whole_channels_at_the_given_rate():
  x = np.ones((64, 5, 5, 8), np.float32)
  y = np.asarray(jax_models.ChannelDropout().apply({}, jnp.asarray(x), 0.25, True,
                                                   rngs={'dropout': jax.random.PRNGKey(0)}))
  assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
  assert (y == y[:, :1, :1, :]).all()  # One draw per example and channel, shared over H and W.
  assert 0.15 < (y[:, 0, 0, :] == 0).mean() < 0.35
  assert (np.asarray(jax_models.ChannelDropout().apply({}, jnp.asarray(x), 0.25, False)) == x).all()
  layer = torch_models.ChannelDropout().train()
  z = layer(torch.ones(64, 8, 5, 5), 0.25).numpy()
  assert (z == z[:, :, :1, :1]).all() and 0.15 < (z[:, :, 0, 0] == 0).mean() < 0.35


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_dropout_rate_is_taken_at_run_time(framework):
  workload = registry.import_workload('fastmri_model_size', framework, scale='smoke')  # 1 pool: cheap.
  prng.set_framework(framework)
  params, _ = workload.init_model_fn(prng.PRNGKey(0))
  x = fastmri_fixtures.random_images((2, 16, 16))
  rng = prng.PRNGKey(1)
  if framework == 'jax':
    # One compile per mode; the rate is traced, as it would be if a submission passed it as an array.
    forward = {mode: jax.jit(lambda p, inputs, rate, mode=mode: workload.model_fn(
        p, {'inputs': inputs}, None, mode, rng, True, rate)[0]) for mode in spec.ForwardPassMode}
    run = lambda mode, rate: np.asarray(forward[mode](params, jnp.asarray(x), rate))  # pylint: disable=unnecessary-lambda-assignment
  else:
    run = lambda mode, rate: workload.model_fn(  # pylint: disable=unnecessary-lambda-assignment
        params, {'inputs': torch.from_numpy(x)}, None, mode, rng, True, rate)[0].detach().numpy()
  eval_out = run(spec.ForwardPassMode.EVAL, 0.5)
  np.testing.assert_allclose(run(spec.ForwardPassMode.TRAIN, 0.0), eval_out, rtol=1e-5, atol=1e-6)
  assert np.abs(run(spec.ForwardPassMode.TRAIN, 0.5) - eval_out).max() > 1e-3
  if framework == 'pytorch':  # (JAX maps None to 0.0 before the model; one compile fewer.)
    np.testing.assert_allclose(run(spec.ForwardPassMode.TRAIN, None), eval_out, rtol=1e-5, atol=1e-6)


def _conv3x3_reference(x: np.ndarray, kernel: np.ndarray, grad: np.ndarray):
  """A 'same' 3x3 convolution (NHWC, HWIO) and its input and kernel gradients for output gradient `grad`,
  tap by tap in float64."""
  x, kernel, grad = (np.asarray(a, np.float64) for a in (x, kernel, grad))
  _, h, w, _ = x.shape
  padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  out, grad_padded, grad_kernel = 0.0, np.zeros_like(padded), np.zeros_like(kernel)
  for i in range(3):
    for j in range(3):
      window = padded[:, i:i + h, j:j + w]
      out = out + window @ kernel[i, j]
      grad_padded[:, i:i + h, j:j + w] += grad @ kernel[i, j].T
      grad_kernel[i, j] = np.einsum('nhwc,nhwo->co', window, grad)
  return out, grad_padded[:, 1:-1, 1:-1], grad_kernel


def _conv3x3_case(in_channels: int, out_channels: int, seed: int = 0):
  """(x, kernel, output gradient) in NHWC / HWIO: the lite model's 80 x 80 maps, two examples."""
  rs = np.random.RandomState(seed)
  x = rs.normal(size=(2, 80, 80, in_channels)).astype(np.float32)
  kernel = (rs.normal(size=(3, 3, in_channels, out_channels)) / 3).astype(np.float32)
  grad = rs.normal(size=(2, 80, 80, out_channels)).astype(np.float32)
  return x, kernel, grad


def _assert_conv3x3_matches_reference(case, out, grad_x, grad_kernel):
  for value, expected in zip((out, grad_x, grad_kernel), _conv3x3_reference(*case)):
    np.testing.assert_allclose(value, expected, rtol=0, atol=1e-5 * np.abs(expected).max())  # float32 sums.


@pytest.mark.parametrize('channels', [(1, 4), (4, 4)])
def test_jax_narrow_conv3x3_and_its_gradients_match_a_float64_reference(channels):
  """The unrolled convolution (with its written-out gradient) against the definition."""
  x, kernel, grad = case = _conv3x3_case(*channels)
  out, vjp = jax.vjp(jax_models.narrow_conv3x3, jnp.asarray(x), jnp.asarray(kernel))
  _assert_conv3x3_matches_reference(case, out, *vjp(jnp.asarray(grad)))


@pytest.mark.parametrize('channels', [(1, 4), (4, 4), (8, 4)])
def test_torch_conv3x3_and_its_gradients_match_a_float64_reference(channels):
  """Conv3x3 (input gradient as a forward convolution on the CPU) against the definition."""
  x, kernel, grad = case = _conv3x3_case(*channels)
  conv = torch_models.Conv3x3(*channels)
  with torch.no_grad():
    conv.weight.copy_(torch.from_numpy(kernel.transpose(3, 2, 0, 1)))  # HWIO -> OIHW.
  inputs = torch.from_numpy(x.transpose(0, 3, 1, 2)).requires_grad_()
  out = conv(inputs)
  out.backward(torch.from_numpy(grad.transpose(0, 3, 1, 2)))
  _assert_conv3x3_matches_reference(case, out.detach().numpy().transpose(0, 2, 3, 1),
                                    inputs.grad.numpy().transpose(0, 2, 3, 1),
                                    conv.weight.grad.numpy().transpose(2, 3, 1, 0))


def test_jax_unet_gradients_do_not_depend_on_which_convolutions_are_unrolled(monkeypatch):
  """The smoke U-Net's loss gradient with its narrow convolutions unrolled and with all of them lax's."""
  jax_workload = fastmri_fixtures.workloads()[0]
  prng.set_framework('jax')
  params, _ = jax_workload.init_model_fn(jax.random.PRNGKey(0))
  batch = {k: jnp.asarray(v) for k, v in fastmri_fixtures.real_batch('eval_train', batch_size=4).items()}

  def gradients():
    def loss(p):
      outputs, _ = jax_workload.model_fn(p, batch, None, spec.ForwardPassMode.TRAIN, None, False)
      return jax_workload.loss_fn(batch['targets'], outputs)['summed']
    return jax.tree.leaves(jax.jit(jax.grad(loss))(params))

  unrolled = gradients()
  monkeypatch.setattr(jax_models, 'NARROW_CHANNEL_PAIRS', 0)
  for value, expected in zip(unrolled, gradients()):
    np.testing.assert_allclose(value, expected, rtol=0, atol=1e-5 * np.abs(expected).max())

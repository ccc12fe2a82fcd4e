"""CIFAR ResNet-18: published counts and properties; the twins agree on mapped weights, losses and metrics."""
import collections
import os

# Smoke shapes: XLA's compile time, not run time, dominates; set before JAX is imported.
os.environ.setdefault('XLA_FLAGS', '--xla_backend_optimization_level=0')

from flax import linen as nn  # pylint: disable=wrong-import-position
import jax  # pylint: disable=wrong-import-position
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from algoperf import random_utils as prng
from algoperf import spec
from workloads import registry
from workloads.common import lite_targets
from workloads.cifar import smoke_data
from workloads.cifar import weight_mapping
from workloads.cifar.jax import models as jax_models
from workloads.common import param_count

FULL_PARAMS, FULL_TENSORS = 11_173_962, 62  # spec/variants.md §1 and §3.


def _workloads(scale='smoke', rules_version='v0.6'):
  return (registry.import_workload('cifar', 'jax', scale=scale, rules_version=rules_version),
          registry.import_workload('cifar', 'pytorch', scale=scale, rules_version=rules_version))


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_full_scale_param_and_tensor_counts_match_the_spec(framework):
  workload = registry.import_workload('cifar', framework, scale='full')
  shapes = param_count.param_shapes(workload, framework)
  assert param_count.count(shapes) == (FULL_PARAMS, FULL_TENSORS)
  # 20 convs (stem, 16 in blocks, 3 projections), 20 BNs, the classifier; the stem is 3x3, not ImageNet's 7x7.
  assert {(3, 3, 3, 64), (64, 3, 3, 3)} & set(shapes.values())
  assert sum(len(s) == 4 for s in shapes.values()) == 20
  assert sum(s in ((1, 1, 64, 128), (128, 64, 1, 1)) for s in shapes.values()) == 1  # A projection.


def test_full_scale_twins_have_the_same_shapes_and_param_types():
  jax_workload, torch_workload = _workloads('full')
  jax_shapes = param_count.param_shapes(jax_workload, 'jax')
  torch_shapes = param_count.param_shapes(torch_workload, 'pytorch')
  # Conv kernels are (kh, kw, in, out) in Flax and (out, in, kh, kw) in PyTorch; Dense is transposed.
  to_torch = {4: lambda s: (s[3], s[2], s[0], s[1]), 2: lambda s: (s[1], s[0]), 1: lambda s: s}
  assert sorted(to_torch[len(s)](s) for s in jax_shapes.values()) == sorted(torch_shapes.values())
  jax_types = collections.Counter(jax.tree.leaves(jax_workload.model_params_types))
  torch_types = collections.Counter(torch_workload.model_params_types.values())
  assert jax_types == torch_types
  assert jax_types[spec.ParameterType.CONV_WEIGHT] == 20
  assert jax_types[spec.ParameterType.BATCH_NORM_SCALE] == jax_types[spec.ParameterType.BATCH_NORM_BIAS] == 20


def test_output_params_are_exactly_the_classifier():
  jax_workload, torch_workload = _workloads('full')
  param_count.param_shapes(jax_workload, 'jax')
  torch_names = list(param_count.pytorch_param_shapes(torch_workload))
  assert [n for n in torch_names if torch_workload.is_output_params(n)] == ['fc.weight', 'fc.bias']
  assert torch_workload.is_output_params('module.fc.bias')  # Under DDP.
  flat = jax.tree_util.tree_flatten_with_path(jax_workload.param_shapes)[0]
  jax_names = ['/'.join(k.key for k in path) for path, _ in flat]
  assert sorted(n for n in jax_names if jax_workload.is_output_params(n)) == ['Dense_0/bias', 'Dense_0/kernel']


@pytest.mark.parametrize('rules_version', ['v0.5', 'v0.6'])
def test_full_scale_properties_match_the_spec(rules_version):
  for workload in _workloads('full', rules_version):
    assert (workload.num_train_examples, workload.num_validation_examples, workload.num_test_examples) == (
        45_000, 5_000, 10_000)
    assert workload.num_eval_train_examples == 10_000
    assert workload.validation_target_value == workload.test_target_value == 0.85
    assert workload.target_metric_name == 'accuracy' and not workload.target_metric_minimized
    assert workload.max_allowed_runtime_sec == 3_600
    assert workload.eval_period_time_sec == 600
    assert workload.eval_batch_size == 1_024
    assert workload.step_hint == 4_883
    assert workload.loss_type == spec.LossType.SOFTMAX_CROSS_ENTROPY
    assert workload.scaled_batch_size(128) == 128
    assert not workload.provisional_targets
    np.testing.assert_allclose(workload.train_mean, [125.307, 122.950, 113.865], atol=1e-3)
    np.testing.assert_allclose(workload.train_stddev, [62.993, 62.089, 66.705], atol=1e-3)
  assert registry.get_base_workload_name('cifar') == 'cifar'


def test_reduced_scales_keep_the_family_and_smoke_targets_are_provisional():
  for scale in ('lite', 'smoke'):  # Lite targets come from lite_targets.json (workloads/lite_targets_test.py).
    workload = registry.import_workload('cifar', 'jax', scale=scale)
    # Smoke targets are ours; lite ones are provisional until the target-setting protocol has set them.
    assert workload.provisional_targets == (scale == 'smoke' or not lite_targets.protocol_has_set('cifar'))
    assert len(workload.model_kwargs['stage_sizes']) == 4  # Four stages: the final map stays 4x4.
    assert workload.model_kwargs['num_filters'] < 64


@pytest.fixture(name='twins')
def _mapped_twins_fixture():
  return _mapped_twins()


def _mapped_twins():
  """Both twins with the same weights: a PyTorch init with randomised BN statistics, mapped to Flax."""
  jax_workload, torch_workload = _workloads('smoke')
  prng.set_framework('jax')
  params, model_state = jax_workload.init_model_fn(jax.random.PRNGKey(0))
  prng.set_framework('pytorch')
  model, _ = torch_workload.init_model_fn(prng.PRNGKey(0))
  generator = torch.Generator().manual_seed(0)
  with torch.no_grad():  # Zero-initialised gammas would hide half the network; randomise every BN.
    for name, tensor in list(model.named_parameters()) + list(model.named_buffers()):
      if 'bn' in name and name.endswith(('weight', 'running_var')):
        tensor.copy_(0.5 + torch.rand(tensor.shape, generator=generator))
      elif 'bn' in name and name.endswith(('bias', 'running_mean')):
        tensor.copy_(0.2 * torch.randn(tensor.shape, generator=generator))
  state_dict = {k: v.numpy() for k, v in model.state_dict().items()}
  mapped, stats = weight_mapping.torch_to_flax(state_dict, jax_workload.model_kwargs['stage_sizes'])
  assert jax.tree.structure(mapped) == jax.tree.structure(params)
  assert jax.tree.structure(stats) == jax.tree.structure(model_state['batch_stats'])
  for a, b in zip(jax.tree.leaves(mapped), jax.tree.leaves(params)):
    assert a.shape == b.shape
  mapped = jax.tree.map(jnp.asarray, mapped)
  return jax_workload, torch_workload, mapped, {'batch_stats': jax.tree.map(jnp.asarray, stats)}, model


def _inputs(n=6, seed=0):
  return np.random.RandomState(seed).normal(size=(n, 32, 32, 3)).astype(np.float32)


@pytest.mark.parametrize('mode', [spec.ForwardPassMode.EVAL, spec.ForwardPassMode.TRAIN])
def test_forward_outputs_match_on_mapped_weights(mode, twins):
  jax_workload, torch_workload, params, model_state, model = twins
  x = _inputs()
  jax_logits, _ = jax_workload.model_fn(params, {'inputs': jnp.asarray(x)}, model_state, mode, None, False)
  torch_logits, _ = torch_workload.model_fn(model, {'inputs': torch.from_numpy(x)}, None, mode, None, False)
  jax_logits, torch_logits = np.asarray(jax_logits), torch_logits.detach().numpy()
  assert np.abs(jax_logits).max() > 1e-3  # Not a trivially zero output.
  scale = np.abs(torch_logits).max()
  np.testing.assert_allclose(jax_logits, torch_logits, rtol=1e-4, atol=1e-4 * scale)


def test_batch_norm_statistics_update_only_when_asked(twins):
  jax_workload, torch_workload, params, model_state, model = twins
  x = _inputs()
  train = spec.ForwardPassMode.TRAIN
  _, kept = jax_workload.model_fn(params, {'inputs': jnp.asarray(x)}, model_state, train, None, False)
  _, updated = jax_workload.model_fn(params, {'inputs': jnp.asarray(x)}, model_state, train, None, True)
  assert kept is model_state
  old = np.asarray(model_state['batch_stats']['BatchNorm_init']['mean'])
  new = np.asarray(updated['batch_stats']['BatchNorm_init']['mean'])
  assert not np.allclose(old, new)
  before = model.bn1.running_mean.clone()
  torch_workload.model_fn(model, {'inputs': torch.from_numpy(x)}, None, train, None, False)
  torch.testing.assert_close(model.bn1.running_mean, before)
  torch_workload.model_fn(model, {'inputs': torch.from_numpy(x)}, None, train, None, True)
  # Both frameworks move the running mean by 10% of the way to the batch mean.
  np.testing.assert_allclose(model.bn1.running_mean.numpy(), new, rtol=1e-4, atol=1e-5)


def test_losses_match_with_label_smoothing_and_mask():
  jax_workload, torch_workload = _workloads()
  rs = np.random.RandomState(1)
  logits = rs.normal(size=(6, 10)).astype(np.float32)
  labels = rs.randint(0, 10, size=6).astype(np.int32)
  mask = np.array([1, 1, 1, 1, 0, 0], np.float32)
  for smoothing in (0.0, 0.1):
    jl = jax_workload.loss_fn(jnp.asarray(labels), jnp.asarray(logits), jnp.asarray(mask), smoothing)
    tl = torch_workload.loss_fn(torch.from_numpy(labels), torch.from_numpy(logits), torch.from_numpy(mask),
                                smoothing)
    assert float(jl['n_valid_examples']) == float(tl['n_valid_examples']) == 4
    np.testing.assert_allclose(float(jl['summed']), float(tl['summed']), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(jl['per_example']), tl['per_example'].numpy(), rtol=1e-6)
    assert float(jl['per_example'][4]) == 0.0


def test_eval_metrics_match_on_the_fixture(twins):
  jax_workload, torch_workload, params, model_state, model = twins
  data_dir = smoke_data.data_dir()
  prng.set_framework('jax')
  jax_metrics = jax_workload.eval_model(3, params, model_state, jax.random.PRNGKey(1), data_dir, None, 0)
  prng.set_framework('pytorch')
  torch_metrics = torch_workload.eval_model(3, model, None, prng.PRNGKey(1), data_dir, None, 0)
  assert set(jax_metrics) == set(torch_metrics) >= {
      'train/accuracy', 'train/loss', 'validation/accuracy', 'validation/loss', 'test/accuracy', 'test/loss'}
  for key, value in jax_metrics.items():
    np.testing.assert_allclose(value, torch_metrics[key], rtol=1e-4, err_msg=key)
  assert jax_metrics['validation/num_examples'] == 4 and jax_metrics['test/num_examples'] == 4
  assert 0.0 <= jax_metrics['validation/accuracy'] <= 1.0
  assert np.isfinite(jax_metrics['validation/loss']) and jax_metrics['validation/loss'] > 0


def test_jax_relu_matches_flax_relu_in_values_and_gradient():
  """The select-based ReLU of the Flax model (written for XLA's fusion, see models.relu) is nn.relu."""
  x = jnp.asarray(np.concatenate([np.random.RandomState(0).normal(size=64), [0.0, -0.0, 1e-38, -1e-38]]),
                  jnp.float32)
  np.testing.assert_array_equal(jax_models.relu(x), nn.relu(x))
  grad = lambda f: jax.grad(lambda v: jnp.sum(f(v) * jnp.arange(1.0, v.size + 1)))(x)
  np.testing.assert_array_equal(grad(jax_models.relu), grad(nn.relu))

"""ImageNet ResNet-50 and variants: counts and properties as published, twins equal on mapped weights,
the baseline trains, the runner logs."""
import collections

import jax
import numpy as np
import pytest
import torch

from algoperf import random_utils as prng
from algoperf import spec
from workloads import registry
from workloads.common import param_count
from workloads.imagenet_common import smoke_fixture
from workloads.imagenet_common import testing
from workloads.imagenet_resnet import weight_mapping

testing.share_jax_compilations()
KEYS = ['imagenet_resnet', 'imagenet_resnet_silu', 'imagenet_resnet_gelu', 'imagenet_resnet_large_bn_init']
# spec/variants.md §1 and harness.md §3.1/3.3: (validation target, test target).
TARGETS = {
    'imagenet_resnet': (0.77431, 0.6560),
    'imagenet_resnet_silu': (0.75445, 0.6323),
    'imagenet_resnet_gelu': (0.76765, 0.6519),
    'imagenet_resnet_large_bn_init': (0.76526, 0.6423),
}


def _to_flax(torch_workload, model):
  del torch_workload
  return weight_mapping.torch_to_flax(model)


@pytest.mark.parametrize('key', KEYS)
def test_full_scale_counts_and_types_match_the_spec(key):
  types = {}
  for framework in ('jax', 'pytorch'):
    workload = registry.import_workload(key, framework, scale='full')
    assert param_count.count(param_count.param_shapes(workload, framework)) == (25_557_032, 161)
    types[framework] = collections.Counter(jax.tree.leaves(workload.model_params_types))
  assert types['jax'] == types['pytorch']
  assert types['jax'][spec.ParameterType.CONV_WEIGHT] == 53
  assert types['jax'][spec.ParameterType.BATCH_NORM_SCALE] == 53


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
@pytest.mark.parametrize('key', KEYS)
def test_full_scale_properties_match_the_spec(key, framework):
  workload = registry.import_workload(key, framework, scale='full')
  assert (workload.validation_target_value, workload.test_target_value) == TARGETS[key]
  assert workload.target_metric_name == 'accuracy' and not workload.target_metric_minimized
  assert workload.loss_type == spec.LossType.SOFTMAX_CROSS_ENTROPY
  assert (workload.num_train_examples, workload.num_validation_examples, workload.num_test_examples) == (
      1_281_167, 50_000, 10_000)
  assert workload.num_eval_train_examples == 50_176
  assert workload.eval_batch_size == 1024
  assert (workload.max_allowed_runtime_sec, workload.step_hint, workload.eval_period_time_sec) == (66_159, 195_999, 510)
  assert (workload.image_size, workload.resize_size, workload.num_classes) == (224, 256, 1000)
  v05 = registry.import_workload(key, framework, scale='full', rules_version='v0.5')
  assert (v05.max_allowed_runtime_sec, v05.step_hint) == (63_008, 186_666)
  assert not workload.provisional_targets and workload.scaled_batch_size(1024) == 1024


@pytest.mark.parametrize('key', ['imagenet_resnet', 'imagenet_resnet_silu', 'imagenet_resnet_gelu'])
def test_forward_outputs_match_on_mapped_weights(key):
  jax_workload, torch_workload, params, state, model = testing.twins(key, _to_flax)
  inputs = np.random.RandomState(0).normal(size=(4, 32, 32, 3)).astype(np.float32)
  # Train mode (batch statistics) for the base model; eval mode (running statistics) for every model.
  modes = [spec.ForwardPassMode.EVAL] + ([spec.ForwardPassMode.TRAIN] if key == 'imagenet_resnet' else [])
  for mode in modes:
    jax_logits, torch_logits, _ = testing.forward_pair(jax_workload, torch_workload, params, state, model, inputs,
                                                       mode)
    assert jax_logits.shape == (4, 19)
    assert testing.relative_error(jax_logits, torch_logits) < 1e-4, mode


def test_activations_differ_between_the_variants():
  """Guards the parity test: the variants' models really are different functions."""
  outputs = {}
  for key in ('imagenet_resnet', 'imagenet_resnet_silu', 'imagenet_resnet_gelu'):
    torch_workload = registry.import_workload(key, 'pytorch', scale='smoke')
    prng.set_framework('pytorch')
    model, _ = torch_workload.init_model_fn(prng.PRNGKey(0))
    testing.randomize_torch(model)
    inputs = torch.from_numpy(np.random.RandomState(0).normal(size=(2, 3, 32, 32)).astype(np.float32))
    outputs[key] = torch_workload.model_fn(model, {'inputs': inputs}, None, spec.ForwardPassMode.EVAL, None,
                                           False)[0].numpy()
  assert testing.relative_error(outputs['imagenet_resnet_silu'], outputs['imagenet_resnet']) > 1e-3
  assert testing.relative_error(outputs['imagenet_resnet_gelu'], outputs['imagenet_resnet_silu']) > 1e-3


@pytest.mark.parametrize('key, scale', [('imagenet_resnet', 0.0), ('imagenet_resnet_large_bn_init', 8.0)])
def test_last_bn_of_each_branch_starts_at_the_variants_scale(key, scale):
  prng.set_framework('jax')
  params, _ = registry.import_workload(key, 'jax', scale='smoke').init_model_fn(jax.random.PRNGKey(0))
  prng.set_framework('pytorch')
  model, _ = registry.import_workload(key, 'pytorch', scale='smoke').init_model_fn(prng.PRNGKey(0))
  blocks = [v for k, v in params.items() if k.startswith('BottleneckBlock_')]
  assert len(blocks) == 2
  for block in blocks:
    np.testing.assert_array_equal(np.asarray(block['BatchNorm_2']['scale']), scale)
    np.testing.assert_array_equal(np.asarray(block['BatchNorm_0']['scale']), 1.0)
    np.testing.assert_array_equal(np.asarray(block['bn_proj']['scale']), 1.0)
  for name, tensor in model.named_parameters():
    if name.endswith('bn3.weight'):
      np.testing.assert_array_equal(tensor.detach().numpy(), scale)
    elif name.endswith('downsample.bn.weight') or name.endswith('bn1.weight'):
      np.testing.assert_array_equal(tensor.detach().numpy(), 1.0)


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_update_batch_norm_controls_the_running_statistics(framework):
  workload = registry.import_workload('imagenet_resnet', framework, scale='smoke')
  prng.set_framework(framework)
  params, state = workload.init_model_fn(prng.PRNGKey(0))
  batch = next(workload._build_input_queue(prng.PRNGKey(1), 'train', smoke_fixture.data_dir(), 8))  # pylint: disable=protected-access

  def running_mean():
    if framework == 'jax':
      return np.asarray(state['batch_stats']['bn_init']['mean']).copy()
    return params.bn1.running_mean.detach().numpy().copy()

  def train_forward(update_batch_norm):
    forward = lambda p, s, b: workload.model_fn(p, b, s, spec.ForwardPassMode.TRAIN, None, update_batch_norm)[1]
    return (jax.jit(forward) if framework == 'jax' else forward)(params, state, batch)

  before = running_mean()
  state = train_forward(False)
  np.testing.assert_array_equal(running_mean(), before)
  state = train_forward(True)
  assert not np.allclose(running_mean(), before)


def test_eval_metrics_match_across_frameworks():
  jax_workload, torch_workload, params, state, model = testing.twins('imagenet_resnet', _to_flax)
  data_dir = smoke_fixture.data_dir()
  prng.set_framework('jax')
  jax_metrics = jax_workload.eval_model(8, params, state, jax.random.PRNGKey(0), data_dir, None, 0)
  prng.set_framework('pytorch')
  torch_metrics = torch_workload.eval_model(8, model, None, prng.PRNGKey(0), data_dir, None, 0)
  assert set(jax_metrics) == set(torch_metrics) >= {'train/accuracy', 'validation/loss', 'test/accuracy'}
  for name, value in jax_metrics.items():
    np.testing.assert_allclose(value, torch_metrics[name], rtol=1e-4, err_msg=name)
  assert jax_metrics['validation/num_examples'] == 10


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_nadamw_baseline_lowers_the_training_loss(framework):
  before, after = testing.nadamw_losses('imagenet_resnet', framework)
  # The first search-space point (as the runner's first trial, sharing its compiled step): ~2.95 -> ~2.6.
  assert after < 0.95 * before, (before, after)


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_runner_trains_a_few_steps_and_writes_eval_measurements(framework, tmp_path):
  rows = testing.run_runner('imagenet_resnet', framework, str(tmp_path))
  last = rows[-1]
  for key in ('validation/accuracy', 'validation/loss', 'test/accuracy', 'train/loss', 'accumulated_submission_time'):
    assert np.isfinite(float(last[key])), key
  assert int(last['global_step']) == 3 and 0.0 <= float(last['validation/accuracy']) <= 1.0


def test_output_params_are_the_classifier():
  jax_workload = registry.import_workload('imagenet_resnet', 'jax', scale='smoke')
  assert jax_workload.is_output_params("['Dense_0']['kernel']")
  assert jax_workload.is_output_params('module.fc.bias')
  assert not jax_workload.is_output_params("['BottleneckBlock_0']['Dense_0']")
  assert not jax_workload.is_output_params('layer1.0.conv1.weight')

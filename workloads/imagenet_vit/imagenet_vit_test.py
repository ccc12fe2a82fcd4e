"""ImageNet ViT-S/16 and variants: counts and properties as published, twins equal on mapped weights,
run-time dropout, the baseline trains, the runner logs."""
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
from workloads.imagenet_vit import posemb
from workloads.imagenet_vit import weight_mapping

testing.share_jax_compilations()
KEYS = ['imagenet_vit', 'imagenet_vit_glu', 'imagenet_vit_post_ln', 'imagenet_vit_map']
# spec/variants.md §1: (params, JAX tensors, PyTorch tensors, validation target, test target).
SPEC = {
    'imagenet_vit': (22_122_472, 200, 200, 0.77309, 0.6519),
    'imagenet_vit_glu': (50_452_456, 224, 224, 0.75738, 0.6359),
    'imagenet_vit_post_ln': (22_121_704, 198, 198, 0.75312, 0.6286),
    'imagenet_vit_map': (23_896_552, 215, 213, 0.77113, 0.6523),
}


def _to_flax(torch_workload, model):
  return weight_mapping.torch_to_flax(model, torch_workload.model_kwargs['num_heads']), None


@pytest.mark.parametrize('key', KEYS)
def test_full_scale_counts_and_types_match_the_spec(key):
  params, jax_tensors, torch_tensors = SPEC[key][:3]
  types = {}
  for framework, tensors in (('jax', jax_tensors), ('pytorch', torch_tensors)):
    workload = registry.import_workload(key, framework, scale='full')
    assert param_count.count(param_count.param_shapes(workload, framework)) == (params, tensors)
    types[framework] = collections.Counter(jax.tree.leaves(workload.model_params_types))
  if key == 'imagenet_vit_map':  # PyTorch's MAP head fuses its key and value projections (spec §5.4).
    kv = spec.ParameterType
    types['jax'].subtract({kv.ATTENTION_K: 1, kv.ATTENTION_V: 1, kv.ATTENTION_BIAS: 1})
    types['pytorch'].subtract({kv.ATTENTION_KV: 1})
  assert +types['jax'] == +types['pytorch']
  assert types['jax'][spec.ParameterType.ATTENTION_Q] == 12 + (key == 'imagenet_vit_map')


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
@pytest.mark.parametrize('key', KEYS)
def test_full_scale_properties_match_the_spec(key, framework):
  workload = registry.import_workload(key, framework, scale='full')
  assert (workload.validation_target_value, workload.test_target_value) == SPEC[key][3:]
  assert workload.target_metric_name == 'accuracy' and not workload.target_metric_minimized
  assert workload.loss_type == spec.LossType.SOFTMAX_CROSS_ENTROPY
  assert (workload.num_train_examples, workload.num_validation_examples, workload.num_test_examples) == (
      1_281_167, 50_000, 10_000)
  assert workload.num_eval_train_examples == 51_200
  assert workload.eval_batch_size == 2048
  assert (workload.max_allowed_runtime_sec, workload.step_hint, workload.eval_period_time_sec) == (69_768, 167_999, 420)
  assert (workload.image_size, workload.resize_size, workload.num_classes) == (224, 256, 1000)
  assert workload.use_randaug and workload.use_mixup
  v05 = registry.import_workload(key, framework, scale='full', rules_version='v0.5')
  assert (v05.max_allowed_runtime_sec, v05.step_hint) == (77_520, 186_666)
  assert not workload.provisional_targets and workload.scaled_batch_size(1024) == 1024


@pytest.mark.parametrize('key', KEYS)
def test_forward_outputs_match_on_mapped_weights(key):
  jax_workload, torch_workload, params, _, model = testing.twins(key, _to_flax)
  inputs = np.random.RandomState(0).normal(size=(4, 32, 32, 3)).astype(np.float32)
  jax_logits, torch_logits, _ = testing.forward_pair(jax_workload, torch_workload, params, None, model, inputs,
                                                     spec.ForwardPassMode.EVAL)
  assert jax_logits.shape == (4, 19)
  assert testing.relative_error(jax_logits, torch_logits) < 1e-4


def test_variants_are_different_functions():
  """Guards the parity test: a variant given the base model's weights (where it has them) computes
  something else."""
  inputs = torch.from_numpy(np.random.RandomState(0).normal(size=(2, 3, 32, 32)).astype(np.float32))
  _, base_workload, _, _, base_model = testing.twins('imagenet_vit', _to_flax)
  run = lambda workload, model: workload.model_fn(model, {'inputs': inputs}, None, spec.ForwardPassMode.EVAL,
                                                  None, False)[0].numpy()
  base = run(base_workload, base_model)
  for key in KEYS[1:]:
    _, workload, _, _, model = testing.twins(key, _to_flax)
    model.load_state_dict(base_model.state_dict(), strict=False)
    assert testing.relative_error(run(workload, model), base) > 1e-3, key


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_head_starts_at_zero_and_dropout_rate_applies_at_run_time(framework):
  workload = registry.import_workload('imagenet_vit', framework, scale='smoke')
  prng.set_framework(framework)
  params, state = workload.init_model_fn(prng.PRNGKey(0))
  batch = next(iter(workload._build_input_queue(prng.PRNGKey(1), 'validation', smoke_fixture.data_dir(), 8)))  # pylint: disable=protected-access
  key = prng.PRNGKey(2)

  def logits(mode, rate):
    forward = lambda p, b: workload.model_fn(p, b, state, mode, key, False, dropout_rate=rate)[0]
    if framework == 'jax':
      return np.asarray(jax.jit(forward)(params, batch))
    return forward(params, batch).detach().numpy()

  np.testing.assert_array_equal(logits(spec.ForwardPassMode.EVAL, None), 0.0)  # Zero-initialised head.
  if framework == 'jax':
    params['head']['kernel'] = params['head']['kernel'] + 0.1
  else:
    with torch.no_grad():
      params.head.weight.add_(0.1)
  evaluated = logits(spec.ForwardPassMode.EVAL, None)
  np.testing.assert_allclose(logits(spec.ForwardPassMode.TRAIN, 0.0), evaluated, rtol=1e-5, atol=1e-6)
  assert testing.relative_error(logits(spec.ForwardPassMode.TRAIN, 0.5), evaluated) > 1e-3
  np.testing.assert_allclose(logits(spec.ForwardPassMode.EVAL, 0.5), evaluated, rtol=1e-6)  # Eval ignores it.


def test_sincos_position_embedding_layout():
  embedding = posemb.sincos_2d(2, 3, 8)
  assert embedding.shape == (6, 8) and embedding.dtype == np.float32
  # Token 0 sits at x = y = 0: [sin 0, sin 0, cos 0, cos 0, sin 0, sin 0, cos 0, cos 0].
  np.testing.assert_allclose(embedding[0], [0, 0, 1, 1, 0, 0, 1, 1], atol=1e-7)
  # Token 4 is row 1, column 1; frequencies are 1 and 1/10000.
  angles = np.array([1.0, 1e-4])
  expected = np.concatenate([np.sin(angles), np.cos(angles), np.sin(angles), np.cos(angles)])
  np.testing.assert_allclose(embedding[4], expected, rtol=1e-6)
  # Token 2 is row 0, column 2: x = 2, y = 0.
  np.testing.assert_allclose(embedding[2, :2], np.sin(2 * angles), rtol=1e-6)
  np.testing.assert_allclose(embedding[2, 4:6], 0.0, atol=1e-7)


def test_eval_metrics_match_across_frameworks():
  jax_workload, torch_workload, params, _, model = testing.twins('imagenet_vit', _to_flax)
  data_dir = smoke_fixture.data_dir()
  prng.set_framework('jax')
  jax_metrics = jax_workload.eval_model(8, params, None, jax.random.PRNGKey(0), data_dir, None, 0)
  prng.set_framework('pytorch')
  torch_metrics = torch_workload.eval_model(8, model, None, prng.PRNGKey(0), data_dir, None, 0)
  assert set(jax_metrics) == set(torch_metrics) >= {'train/accuracy', 'validation/loss', 'test/accuracy'}
  for name, value in jax_metrics.items():
    np.testing.assert_allclose(value, torch_metrics[name], rtol=1e-4, err_msg=name)


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_nadamw_baseline_lowers_the_training_loss(framework):
  before, after = testing.nadamw_losses('imagenet_vit', framework)
  # The first search-space point (as the runner's first trial, sharing its compiled step); mixed-up targets
  # are soft, so the loss cannot fall as far as with hard labels.
  assert after < 0.95 * before, (before, after)


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_runner_trains_a_few_steps_and_writes_eval_measurements(framework, tmp_path):
  rows = testing.run_runner('imagenet_vit', framework, str(tmp_path))
  last = rows[-1]
  for key in ('validation/accuracy', 'validation/loss', 'test/accuracy', 'train/loss', 'accumulated_submission_time'):
    assert np.isfinite(float(last[key])), key
  assert int(last['global_step']) == 3 and 0.0 <= float(last['validation/accuracy']) <= 1.0


def test_output_params_are_the_head_not_the_map_head():
  workload = registry.import_workload('imagenet_vit_map', 'pytorch', scale='smoke')
  assert workload.is_output_params("['head']['kernel']") and workload.is_output_params('head.bias')
  assert not workload.is_output_params("['MAPHead_0']['MlpBlock_0']['Dense_0']['kernel']")
  assert not workload.is_output_params('map_head.mlp.linear1.weight')
  assert not workload.is_output_params('pre_logits.weight')

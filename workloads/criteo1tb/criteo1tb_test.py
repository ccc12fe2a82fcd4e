"""Criteo 1TB DLRM-small: full-scale counts and properties as the spec says, and JAX/PyTorch twins that
agree (parameter types, forward outputs on mapped weights, losses, eval metrics, dropout)."""
import collections
import functools
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
from workloads.criteo1tb import input_pipeline
from workloads.criteo1tb import mapping

# Tiny tensors gain nothing from a second thread, and spin-waiting threads on a busy machine slow every op.
torch.set_num_threads(1)
DATA_DIR = os.environ.get('CRITEO1TB_SMOKE_DATA_DIR', os.path.join(os.path.dirname(__file__), 'smoke'))
KEYS = ['criteo1tb', 'criteo1tb_test', 'criteo1tb_layernorm', 'criteo1tb_resnet', 'criteo1tb_embed_init']

# spec/variants.md §1: (params, JAX tensors, PyTorch tensors) per registered key.
COUNTS = {
    'criteo1tb': (539_267_457, 17, 20),
    'criteo1tb_test': (10_785_153, 17, 20),
    'criteo1tb_layernorm': (539_275_137, 33, 36),
    'criteo1tb_resnet': (538_121_473, 17, 20),
    'criteo1tb_embed_init': (539_267_457, 17, 20),
}
# spec/harness.md §3.1 and §3.3: (validation target, test target).
TARGETS = {
    'criteo1tb': (0.123735, 0.126041),
    'criteo1tb_test': (0.123735, 0.126041),
    'criteo1tb_layernorm': (0.123757, 0.126152),
    'criteo1tb_resnet': (0.12415, 0.12648),
    'criteo1tb_embed_init': (0.129657, 0.131967),
}


@pytest.mark.parametrize('key', KEYS)
@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_full_scale_param_and_tensor_counts_match_the_spec(key, framework):
  workload = registry.import_workload(key, framework, scale='full')
  params, jax_tensors, torch_tensors = COUNTS[key]
  tensors = jax_tensors if framework == 'jax' else torch_tensors
  assert param_count.count(param_count.param_shapes(workload, framework)) == (params, tensors)


def test_full_scale_embedding_shapes():
  jax_shapes = param_count.param_shapes(registry.import_workload('criteo1tb', 'jax'), 'jax')
  torch_shapes = param_count.param_shapes(registry.import_workload('criteo1tb', 'pytorch'), 'pytorch')
  assert jax_shapes["['embedding_table']"] == (4_194_304, 128)
  chunks = [s for name, s in torch_shapes.items() if 'embedding_chunk' in name]
  assert chunks == [(1_048_576, 128)] * 4


@pytest.mark.parametrize('key', KEYS)
@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
@pytest.mark.parametrize('rules_version', ['v0.5', 'v0.6'])
def test_full_scale_properties_match_the_spec(key, framework, rules_version):
  workload = registry.import_workload(key, framework, scale='full', rules_version=rules_version)
  assert (workload.validation_target_value, workload.test_target_value) == TARGETS[key]
  assert workload.target_metric_name == 'loss'
  assert workload.loss_type == spec.LossType.SIGMOID_CROSS_ENTROPY
  assert workload.num_train_examples == 4_195_197_692
  assert workload.num_validation_examples == 83_274_637
  assert workload.num_test_examples == 95_000_000
  assert workload.max_allowed_runtime_sec == 7_703
  assert workload.eval_period_time_sec == 120
  assert workload.step_hint == 10_666
  assert workload.eval_batch_size == {'jax': 131_072, 'pytorch': 8_192}[framework]
  assert workload.num_eval_train_examples == {'jax': 83_361_792, 'pytorch': 83_279_872}[framework]
  assert not workload.provisional_targets
  with pytest.raises(NotImplementedError):
    _ = workload.train_mean


def test_targets_are_strict_and_minimised():
  workload = registry.import_workload('criteo1tb', 'jax')
  assert workload.has_reached_validation_target({'validation/loss': 0.1237})
  assert not workload.has_reached_validation_target({'validation/loss': 0.123735})
  assert not workload.has_reached_test_target({'test/loss': 0.127})


@functools.lru_cache(maxsize=None)
def _twins(key):
  """The smoke-scale twins, their inits, and the PyTorch weights as Flax params (built once per key)."""
  jax_workload = registry.import_workload(key, 'jax', scale='smoke')
  torch_workload = registry.import_workload(key, 'pytorch', scale='smoke')
  prng.set_framework('jax')
  jax_params, _ = jax_workload.init_model_fn(jax.random.PRNGKey(0))
  prng.set_framework('pytorch')
  model, _ = torch_workload.init_model_fn(prng.PRNGKey(0))
  mapped = jax.tree.map(jnp.asarray, mapping.torch_to_flax(model))
  return jax_workload, torch_workload, jax_params, model, mapped


@pytest.mark.parametrize('key', KEYS)
def test_twins_have_the_same_parameter_types_and_output_layer(key):
  jax_workload, torch_workload, params, model, _ = _twins(key)
  jax_types = collections.Counter(jax.tree.leaves(jax_workload.model_params_types))
  torch_types = collections.Counter(torch_workload.model_params_types.values())
  torch_types[spec.ParameterType.EMBEDDING] -= 3  # PyTorch stores the one table as 4 chunks.
  assert jax_types == torch_types
  assert jax_types[spec.ParameterType.EMBEDDING] == 1
  if key == 'criteo1tb_layernorm':
    assert jax_types[spec.ParameterType.LAYER_NORM_SCALE] == 8
  # The output layer is the one producing the logit: a (fan_in, 1) kernel and a (1,) bias.
  jax_out = [k for k in params if jax_workload.is_output_params(k)]
  assert jax_out == ['Dense_7'] and params['Dense_7']['kernel'].shape[-1] == 1
  torch_out = {n: tuple(p.shape) for n, p in model.named_parameters() if torch_workload.is_output_params(n)}
  assert sorted(torch_out.values()) == [(1,), (1, params['Dense_7']['kernel'].shape[0])]


@pytest.mark.parametrize('key', KEYS)
def test_weight_mapping_matches_the_flax_tree(key):
  _, _, jax_params, _, mapped = _twins(key)
  assert jax.tree.structure(mapped) == jax.tree.structure(jax_params)
  for a, b in zip(jax.tree.leaves(mapped), jax.tree.leaves(jax_params)):
    assert a.shape == b.shape and a.dtype == b.dtype


def _real_batch(n=64):
  return input_pipeline.read_rows(input_pipeline.split_files(DATA_DIR, 'validation'), n)


@pytest.mark.parametrize('key', KEYS)
def test_forward_outputs_match_on_mapped_weights(key):
  jax_workload, torch_workload, _, model, params = _twins(key)
  batch = _real_batch()
  # Ids beyond the table wrap around in both frameworks alike.
  batch['inputs'][:4, 13:] += float(jax_workload.model_kwargs()['vocab_size'])
  jax_logits, _ = jax_workload.model_fn(params, {'inputs': jnp.asarray(batch['inputs'])}, None,
                                        spec.ForwardPassMode.EVAL, None, False)
  torch_logits, _ = torch_workload.model_fn(model, {'inputs': torch.from_numpy(batch['inputs'])}, None,
                                            spec.ForwardPassMode.EVAL, None, False)
  jax_logits, torch_logits = np.asarray(jax_logits), torch_logits.numpy()
  assert jax_logits.shape == torch_logits.shape == (64, 1)
  assert np.std(jax_logits) > 1e-3  # Not a constant output that would agree trivially.
  np.testing.assert_allclose(jax_logits, torch_logits, rtol=1e-4, atol=1e-5)


def test_variants_change_only_what_they_change():
  base = registry.import_workload('criteo1tb', 'jax', scale='smoke').model_kwargs()
  changed = {key: {k: v for k, v in registry.import_workload(key, 'jax', scale='smoke').model_kwargs().items()
                   if base[k] != v} for key in KEYS[1:]}
  assert changed['criteo1tb_test'] == {'vocab_size': base['vocab_size'] // 64}
  assert changed['criteo1tb_layernorm'] == {'use_layer_norm': True}
  assert set(changed['criteo1tb_resnet']) == {'mlp_bottom_dims', 'mlp_top_dims'}
  assert changed['criteo1tb_embed_init'] == {'embedding_init_multiplier': 1.0}


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_embedding_init_scales(framework):
  leaf = 2 if framework == 'jax' else 4  # The JAX init, or the PyTorch init as Flax params.
  base = np.asarray(_twins('criteo1tb')[leaf]['embedding_table'])
  unit = np.asarray(_twins('criteo1tb_embed_init')[leaf]['embedding_table'])
  scale = _twins('criteo1tb')[0].model_kwargs()['vocab_size']**-0.5
  assert base.min() >= 0 and base.max() < scale and base.max() > 0.9 * scale
  assert unit.min() >= 0 and unit.max() < 1.0 and unit.max() > 0.9


def test_losses_match_with_mask_and_ignore_label_smoothing():
  jax_workload, torch_workload = (registry.import_workload('criteo1tb', f, scale='smoke') for f in ('jax', 'pytorch'))
  rs = np.random.RandomState(0)
  logits = (rs.normal(size=(8, 1)) * 4).astype(np.float32)
  labels = rs.randint(0, 2, size=8).astype(np.float32)
  mask = np.array([1, 1, 1, 1, 1, 0, 0, 0], np.float32)
  jl = jax_workload.loss_fn(jnp.asarray(labels), jnp.asarray(logits), jnp.asarray(mask), 0.3)
  tl = torch_workload.loss_fn(torch.from_numpy(labels), torch.from_numpy(logits), torch.from_numpy(mask), 0.3)
  z = logits[:, 0]
  expected = np.maximum(z, 0) - z * labels + np.log1p(np.exp(-np.abs(z)))  # Stable BCE with logits.
  np.testing.assert_allclose(np.asarray(jl['per_example']), expected * mask, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(tl['per_example'].numpy(), expected * mask, rtol=1e-5, atol=1e-6)
  assert float(jl['n_valid_examples']) == float(tl['n_valid_examples']) == 5
  np.testing.assert_allclose(float(jl['summed']), (expected * mask).sum(), rtol=1e-5)
  unmasked = jax_workload.loss_fn(jnp.asarray(labels), jnp.asarray(logits))
  assert float(unmasked['n_valid_examples']) == 8


def test_eval_metrics_match_across_frameworks_on_real_data():
  jax_workload, torch_workload, _, model, params = _twins('criteo1tb')
  jax_metrics = jax_workload.eval_model(jax_workload.eval_batch_size, params, None, jax.random.PRNGKey(1),
                                        DATA_DIR, None, 0)
  torch_metrics = torch_workload.eval_model(torch_workload.eval_batch_size, model, None, prng.PRNGKey(1),
                                            DATA_DIR, None, 0)
  assert set(jax_metrics) == {'train/loss', 'validation/loss', 'validation/num_examples', 'test/loss',
                              'test/num_examples'}
  for name in ('train/loss', 'validation/loss', 'test/loss'):
    assert np.isfinite(jax_metrics[name]) and jax_metrics[name] > 0
    np.testing.assert_allclose(jax_metrics[name], torch_metrics[name], rtol=1e-4)
  assert jax_metrics['validation/num_examples'] == 1_024


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_dropout_rate_is_applied_at_run_time_in_training_only(framework):
  twins = _twins('criteo1tb')
  workload, params = (twins[0], twins[2]) if framework == 'jax' else (twins[1], twins[3])
  inputs = _real_batch(32)['inputs']
  batch = {'inputs': jnp.asarray(inputs) if framework == 'jax' else torch.from_numpy(inputs)}
  rng = jax.random.PRNGKey(3) if framework == 'jax' else None

  def logits(mode, rate):
    out, _ = workload.model_fn(params, batch, None, mode, rng, False, dropout_rate=rate)
    return np.asarray(out.detach().numpy() if framework == 'pytorch' else out)

  train, evaluation = spec.ForwardPassMode.TRAIN, spec.ForwardPassMode.EVAL
  np.testing.assert_allclose(logits(train, 0.0), logits(evaluation, 0.5), rtol=1e-6)
  assert not np.allclose(logits(train, 0.5), logits(evaluation, 0.5))

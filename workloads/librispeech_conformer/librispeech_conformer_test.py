"""LibriSpeech Conformer: full-scale counts and properties per key, twin parity on mapped weights."""
import os

os.environ.setdefault('XLA_FLAGS', '--xla_backend_optimization_level=0')

import pytest  # pylint: disable=wrong-import-position

from workloads import registry  # pylint: disable=wrong-import-position
from workloads.common import param_count  # pylint: disable=wrong-import-position
from workloads.librispeech_common import testing  # pylint: disable=wrong-import-position
from workloads.librispeech_conformer import weight_mapping  # pylint: disable=wrong-import-position

# spec/variants.md §1: (params, JAX tensors, PyTorch tensors); PyTorch fuses q/k/v (4 fewer per block).
COUNTS = {
    'librispeech_conformer': (32_321_792, 154, 138),
    'librispeech_conformer_attention_temperature': (32_321_792, 154, 138),
    'librispeech_conformer_layernorm': (32_317_696, 146, 130),
    'librispeech_conformer_gelu': (32_321_792, 154, 138),
}
# spec/variants.md §1 and harness.md §3.1/§3.3: (validation target, test target).
TARGETS = {
    'librispeech_conformer': (0.085884, 0.052981),
    'librispeech_conformer_attention_temperature': (0.109977, 0.068065),
    'librispeech_conformer_layernorm': (0.09731, 0.05996),
    'librispeech_conformer_gelu': (0.094114, 0.056629),
}


@pytest.mark.parametrize('key', sorted(COUNTS))
def test_full_scale_param_and_tensor_counts_match_the_spec(key):
  params, jax_tensors, torch_tensors = COUNTS[key]
  for framework, tensors in (('jax', jax_tensors), ('pytorch', torch_tensors)):
    workload = registry.import_workload(key, framework, scale='full')
    assert param_count.count(param_count.param_shapes(workload, framework)) == (params, tensors), framework


@pytest.mark.parametrize('key', sorted(TARGETS))
@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_full_scale_properties_match_the_spec(key, framework):
  workload = registry.import_workload(key, framework, scale='full')
  assert (workload.validation_target_value, workload.test_target_value) == TARGETS[key]
  assert workload.target_metric_name == 'wer' and workload.target_metric_minimized
  assert workload.loss_type.name == 'CTC_LOSS'
  assert (workload.num_train_examples, workload.num_validation_examples, workload.num_test_examples,
          workload.num_eval_train_examples, workload.eval_batch_size) == (263_840, 5_348, 2_472, 5_376, 256)
  budgets = (workload.max_allowed_runtime_sec, workload.step_hint, workload.eval_period_time_sec)
  assert budgets == (58_015, 76_000, 1_440)
  v05 = registry.import_workload(key, framework, scale='full', rules_version='v0.5')
  assert (v05.max_allowed_runtime_sec, v05.step_hint) == (61_068, 80_000)
  config = workload.model_config()
  assert (config.vocab_size, config.encoder_dim, config.num_attention_heads, config.num_encoder_layers) == (
      1024, 512, 8, 4)
  assert (workload.data_config.max_audio_samples, workload.data_config.max_target_tokens) == (320_000, 256)
  assert (config.attention_temperature, config.use_post_layer_norm, config.activation) == {
      'librispeech_conformer': (1.0, True, 'swish'),
      'librispeech_conformer_attention_temperature': (1.6, True, 'swish'),
      'librispeech_conformer_layernorm': (1.0, False, 'swish'),
      'librispeech_conformer_gelu': (1.0, True, 'gelu'),
  }[key]
  assert workload.is_output_params('Dense_0' if framework == 'jax' else 'lin.weight')


def _to_flax(state, config):
  return weight_mapping.torch_to_flax(state, config.num_encoder_layers, config.use_post_layer_norm)


@pytest.mark.parametrize('key, modes', [
    ('librispeech_conformer', ('eval', 'train')),  # Train mode: batch statistics in the conv module's BN.
    ('librispeech_conformer_attention_temperature', ('eval',)),
    ('librispeech_conformer_layernorm', ('eval',)),
    ('librispeech_conformer_gelu', ('eval',)),
])
def test_forward_outputs_match_on_mapped_weights(key, modes):
  for jax_logits, torch_logits, valid in testing.twin_outputs(key, _to_flax, modes):
    testing.assert_close_on_valid_frames(jax_logits, torch_logits, valid, rtol=1e-4)


@pytest.mark.parametrize('variant', sorted(set(COUNTS) - {'librispeech_conformer'}))
def test_each_variant_changes_the_outputs(variant):
  assert testing.torch_variant_difference('librispeech_conformer', variant) > 1e-3

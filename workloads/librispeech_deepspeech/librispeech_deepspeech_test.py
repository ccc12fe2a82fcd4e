"""LibriSpeech DeepSpeech: full-scale counts and properties per key, twin parity on mapped weights."""
import os

os.environ.setdefault('XLA_FLAGS', '--xla_backend_optimization_level=0')

import jax  # pylint: disable=wrong-import-position
import jax.numpy as jnp  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position
import pytest  # pylint: disable=wrong-import-position

from workloads import registry  # pylint: disable=wrong-import-position
from workloads.common import param_count  # pylint: disable=wrong-import-position
from workloads.librispeech_common import testing  # pylint: disable=wrong-import-position
from workloads.librispeech_deepspeech import weight_mapping  # pylint: disable=wrong-import-position
from workloads.librispeech_deepspeech.jax import models  # pylint: disable=wrong-import-position

# spec/variants.md: the project decision's two-bias LSTM layout in both frameworks, so JAX has PyTorch's
# counts and tensors (upstream HEAD's JAX: 18,381,312 in 178 tensors).
COUNTS = {
    'librispeech_deepspeech': (18_393_600, 82),
    'librispeech_deepspeech_tanh': (18_393_600, 82),
    'librispeech_deepspeech_no_resnet': (18_393_600, 82),
    'librispeech_deepspeech_norm_and_spec_aug': (18_392_576, 80),
}
# (validation target, test target, eval batch size).
PROPERTIES = {
    'librispeech_deepspeech': (0.119936, 0.074143, 256),
    'librispeech_deepspeech_tanh': (0.150883, 0.098613, 256),
    'librispeech_deepspeech_no_resnet': (0.131564, 0.079297, 256),
    'librispeech_deepspeech_norm_and_spec_aug': (0.14342, 0.090976, 128),
}


@pytest.mark.parametrize('key', sorted(COUNTS))
def test_full_scale_param_and_tensor_counts_match_the_spec(key):
  for framework in ('jax', 'pytorch'):
    workload = registry.import_workload(key, framework, scale='full')
    assert param_count.count(param_count.param_shapes(workload, framework)) == COUNTS[key], framework


@pytest.mark.parametrize('key', sorted(PROPERTIES))
@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_full_scale_properties_match_the_spec(key, framework):
  workload = registry.import_workload(key, framework, scale='full')
  validation, test, eval_batch_size = PROPERTIES[key]
  assert (workload.validation_target_value, workload.test_target_value) == (validation, test)
  assert workload.eval_batch_size == eval_batch_size
  assert workload.target_metric_name == 'wer' and workload.target_metric_minimized
  assert (workload.num_train_examples, workload.num_validation_examples, workload.num_test_examples,
          workload.num_eval_train_examples) == (263_840, 5_348, 2_472, 5_376)
  budgets = (workload.max_allowed_runtime_sec, workload.step_hint, workload.eval_period_time_sec)
  assert budgets == (44_405, 38_400, 1_440)
  v05 = registry.import_workload(key, framework, scale='full', rules_version='v0.5')
  assert (v05.max_allowed_runtime_sec, v05.step_hint) == (55_506, 48_000)
  c = workload.model_config()
  assert (c.vocab_size, c.encoder_dim, c.num_lstm_layers, c.num_ffn_layers) == (1024, 512, 6, 3)
  assert (c.use_tanh, c.enable_residual_connections, c.layernorm_everywhere, c.enable_decoder_layer_norm,
          c.spec_aug.freq_mask_count, c.spec_aug.time_mask_count) == {
              'librispeech_deepspeech': (False, True, False, True, 2, 10),
              'librispeech_deepspeech_tanh': (True, True, False, True, 2, 10),
              'librispeech_deepspeech_no_resnet': (False, False, False, True, 2, 10),
              'librispeech_deepspeech_norm_and_spec_aug': (False, True, True, False, 4, 15),
          }[key]
  assert (c.spec_aug.freq_mask_max_bins, c.spec_aug.time_mask_max_ratio) == (27, 0.05)


def test_reverse_within_lengths_flips_only_the_valid_steps():
  x = jnp.arange(12.0).reshape(2, 6, 1)
  flipped = models.reverse_within_lengths(x, jnp.array([4, 6]))
  np.testing.assert_array_equal(flipped[..., 0], [[3, 2, 1, 0, 4, 5], [11, 10, 9, 8, 7, 6]])
  np.testing.assert_array_equal(models.reverse_within_lengths(flipped, jnp.array([4, 6])), x)


def _to_flax(state, c):
  return weight_mapping.torch_to_flax(state, c.num_lstm_layers, c.num_ffn_layers, c.layernorm_everywhere,
                                      c.enable_decoder_layer_norm)


@pytest.mark.parametrize('key, modes', [
    ('librispeech_deepspeech', ('eval', 'train')),  # Train mode: batch statistics in every BatchNorm.
    ('librispeech_deepspeech_tanh', ('eval',)),
    ('librispeech_deepspeech_no_resnet', ('eval',)),
    ('librispeech_deepspeech_norm_and_spec_aug', ('eval',)),
])
def test_forward_outputs_match_on_mapped_weights(key, modes):
  for jax_logits, torch_logits, valid in testing.twin_outputs(key, _to_flax, modes):
    testing.assert_close_on_valid_frames(jax_logits, torch_logits, valid, rtol=1e-4)


@pytest.mark.parametrize('variant', sorted(set(COUNTS) - {'librispeech_deepspeech'}))
def test_each_variant_changes_the_outputs(variant):
  assert testing.torch_variant_difference('librispeech_deepspeech', variant) > 1e-3

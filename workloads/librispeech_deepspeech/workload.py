"""LibriSpeech DeepSpeech, framework-neutral: scales, targets, budgets and the variants' settings.

spec/harness.md §3.1-3.3 and spec/variants.md §11. Same data, loss and metric as the Conformer; only the
model, the budget and the step hint differ. Full scale is the published workload.
"""
import dataclasses
from typing import Any, Dict

from workloads.common.base import ScaleConfig
from workloads.librispeech_common.specaug import SpecAugConfig
from workloads.librispeech_common.workload import (LITE, LITE_BATCH_NORM_MOMENTUM, SMOKE, SMOKE_BATCH_NORM_MOMENTUM,
                                                   BaseLibriSpeechWorkload)
from workloads.librispeech_deepspeech.config import DeepspeechConfig

FULL = ScaleConfig(
    num_train_examples=263_840, num_validation_examples=5_348, num_test_examples=2_472,
    num_eval_train_examples=5_376, eval_batch_size=256, validation_target_value=0.119936,
    test_target_value=0.074143, max_allowed_runtime_sec=44_405, max_allowed_runtime_sec_v05=55_506,
    eval_period_time_sec=24 * 60, step_hint=38_400, step_hint_v05=48_000)


class BaseLibriSpeechDeepSpeechWorkload(BaseLibriSpeechWorkload):
  SCALES = {
      'full': FULL,
      # The lite data (librispeech_common/workload.py); two BiLSTM layers of 32 units per direction, one FFN.
      # Width 64, as the lite Conformer: a PyTorch step on one thread costs 0.11 s (width 128: 0.24 s).
      'lite': dataclasses.replace(
          LITE,
          model={'encoder_dim': 64, 'num_lstm_layers': 2, 'num_ffn_layers': 1,
                 'batch_norm_momentum': LITE_BATCH_NORM_MOMENTUM}),
      'smoke': dataclasses.replace(
          SMOKE, model={'encoder_dim': 16, 'num_lstm_layers': 1, 'num_ffn_layers': 1,
                        'batch_norm_momentum': SMOKE_BATCH_NORM_MOMENTUM}),
  }
  # What the variants change (class attributes, as upstream's properties).
  USE_TANH = False
  ENABLE_RESIDUAL_CONNECTIONS = True
  ENABLE_DECODER_LAYER_NORM = True
  LAYERNORM_EVERYWHERE = False

  @property
  def use_tanh(self) -> bool:
    return self.USE_TANH

  @property
  def enable_residual_connections(self) -> bool:
    return self.ENABLE_RESIDUAL_CONNECTIONS

  @property
  def enable_decoder_layer_norm(self) -> bool:
    return self.ENABLE_DECODER_LAYER_NORM

  @property
  def layernorm_everywhere(self) -> bool:
    return self.LAYERNORM_EVERYWHERE

  def model_config(self) -> DeepspeechConfig:
    kwargs: Dict[str, Any] = dict(self.config.model)
    return DeepspeechConfig(
        vocab_size=self.vocab_size, use_specaug=self.use_specaug, spec_aug=self.SPEC_AUG, use_tanh=self.USE_TANH,
        enable_residual_connections=self.ENABLE_RESIDUAL_CONNECTIONS,
        enable_decoder_layer_norm=self.ENABLE_DECODER_LAYER_NORM, layernorm_everywhere=self.LAYERNORM_EVERYWHERE,
        trim_padding=self.trim_padding, **kwargs)

  def is_output_params(self, param_key: str) -> bool:
    """The final Dense: 'Dense_0' in JAX, 'lin.*' in PyTorch (as upstream)."""
    return param_key in ('Dense_0', 'lin.weight', 'lin.bias')


class TanhVariant:
  """tanh instead of ReLU in the subsampling convs and the FFNs (the LSTMs are unchanged)."""
  USE_TANH = True
  VARIANT_TARGETS = {'full': (0.150883, 0.098613)}


class NoResNetVariant:
  """No residual adds around the BatchRNN and FFN layers."""
  ENABLE_RESIDUAL_CONNECTIONS = False
  VARIANT_TARGETS = {'full': (0.131564, 0.079297)}


class NormAndSpecAugVariant:
  """LayerNorm instead of every BatchNorm, no decoder LayerNorm, SpecAugment with 4 frequency and 15 time
  masks, and eval batches of 128 at full scale."""
  LAYERNORM_EVERYWHERE = True
  ENABLE_DECODER_LAYER_NORM = False
  SPEC_AUG = SpecAugConfig(freq_mask_count=4, time_mask_count=15)
  VARIANT_TARGETS = {'full': (0.14342, 0.090976)}

  @property
  def eval_batch_size(self) -> int:
    return 128 if self.scale == 'full' else self.config.eval_batch_size

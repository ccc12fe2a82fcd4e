"""LibriSpeech Conformer, framework-neutral: scales, targets, budgets and the variants' settings.

spec/harness.md §3.1-3.3 and spec/variants.md §10. Full scale is the published workload (4 blocks of
width 512, vocab 1024, 20 s of audio, 256 target tokens).
"""
import dataclasses
from typing import Any, Dict

from workloads.common.base import ScaleConfig
from workloads.librispeech_common.workload import (LITE, LITE_BATCH_NORM_MOMENTUM, SMOKE, SMOKE_BATCH_NORM_MOMENTUM,
                                                   BaseLibriSpeechWorkload)
from workloads.librispeech_conformer.config import ConformerConfig

FULL = ScaleConfig(
    num_train_examples=263_840, num_validation_examples=5_348, num_test_examples=2_472,
    num_eval_train_examples=5_376,  # num_validation_examples rounded up to a multiple of the eval batch.
    eval_batch_size=256, validation_target_value=0.085884, test_target_value=0.052981,
    max_allowed_runtime_sec=58_015, max_allowed_runtime_sec_v05=61_068, eval_period_time_sec=24 * 60,
    step_hint=76_000, step_hint_v05=80_000)


class BaseLibriSpeechConformerWorkload(BaseLibriSpeechWorkload):
  SCALES = {
      'full': FULL,
      # A narrower, shallower Conformer on the lite data (librispeech_common/workload.py). Width 64: the second
      # subsampling conv (width x width over a quarter of the frames) was 75-85 % of a width-128 step; at 64 a
      # step on 3-s audio cost 0.13 s in JAX and 0.075 s in PyTorch instead of 0.35 and 0.24.
      'lite': dataclasses.replace(
          LITE,
          model={'encoder_dim': 64, 'num_attention_heads': 4, 'num_encoder_layers': 2,
                 'batch_norm_momentum': LITE_BATCH_NORM_MOMENTUM}),
      'smoke': dataclasses.replace(
          SMOKE, model={'encoder_dim': 16, 'num_attention_heads': 2, 'num_encoder_layers': 1,
                        'batch_norm_momentum': SMOKE_BATCH_NORM_MOMENTUM}),
  }
  # What the variants change (class attributes, as upstream's properties).
  ATTENTION_TEMPERATURE = 1.0
  ACTIVATION = 'swish'
  USE_POST_LAYER_NORM = True

  @property
  def attention_temperature(self) -> float:
    return self.ATTENTION_TEMPERATURE

  @property
  def use_gelu(self) -> bool:
    return self.ACTIVATION == 'gelu'

  @property
  def use_post_layer_norm(self) -> bool:
    return self.USE_POST_LAYER_NORM

  def model_config(self) -> ConformerConfig:
    kwargs: Dict[str, Any] = dict(self.config.model)
    return ConformerConfig(vocab_size=self.vocab_size, use_specaug=self.use_specaug, spec_aug=self.SPEC_AUG,
                           attention_temperature=self.ATTENTION_TEMPERATURE, activation=self.ACTIVATION,
                           use_post_layer_norm=self.USE_POST_LAYER_NORM, trim_padding=self.trim_padding, **kwargs)

  def is_output_params(self, param_key: str) -> bool:
    """The final Dense: 'Dense_0' in JAX, 'lin.*' in PyTorch (as upstream)."""
    return param_key in ('Dense_0', 'lin.weight', 'lin.bias')


class AttentionTemperatureVariant:
  """Multiplies the attention output (before the output projection) by 1.6."""
  ATTENTION_TEMPERATURE = 1.6
  VARIANT_TARGETS = {'full': (0.109977, 0.068065)}


class LayerNormVariant:
  """Drops the LayerNorm at the end of every block (the final LN before the output Dense stays)."""
  USE_POST_LAYER_NORM = False
  VARIANT_TARGETS = {'full': (0.09731, 0.05996)}


class GeluVariant:
  """GELU (tanh approximation) in the FF and conv modules.

  Upstream's PyTorch model uses the exact (erf) GELU in the conv module, a framework mismatch; both of
  our twins use the tanh approximation everywhere, as upstream's JAX model does.
  """
  ACTIVATION = 'gelu'
  VARIANT_TARGETS = {'full': (0.094114, 0.056629)}

"""ImageNet ResNet-50 v1 and its held-out variants, framework-neutral: scales, targets, budgets.

spec/harness.md §3.1-3.3 and spec/variants.md §4. The JAX and PyTorch modules define the registered classes
(ImagenetResNetWorkload, ImagenetResNetSiLUWorkload, ...) from these bases.
"""
from workloads.common.base import ScaleConfig
from workloads.imagenet_common.workload import LITE_DATA, BaseImagenetWorkload, param_name_tokens, with_targets


class BaseImagenetResNetWorkload(BaseImagenetWorkload):
  SCALES = {
      # Upstream: ImageNet-2012 train / val, ImageNet-v2 as test; eval_train rounded up to the eval batch.
      'full': ScaleConfig(
          num_train_examples=1_281_167, num_validation_examples=50_000, num_test_examples=10_000,
          num_eval_train_examples=50_176, eval_batch_size=1024,
          validation_target_value=0.77431, test_target_value=0.6560,
          max_allowed_runtime_sec=66_159, max_allowed_runtime_sec_v05=63_008,
          step_hint=195_999, step_hint_v05=186_666, eval_period_time_sec=510,
          model={'num_classes': 1000, 'stage_sizes': (3, 4, 6, 3), 'num_filters': 64}),
      # LITE_DATA at 32 px, with a one-block-per-stage bottleneck ResNet 1/4 as wide.
      'lite': ScaleConfig(
          **LITE_DATA,
          model={'num_classes': 10, 'stage_sizes': (1, 1, 1, 1), 'num_filters': 16}),
      # Unit tests: the 20 real ImageNet JPEGs of foolbox (19 classes), batches of 1024/128 = 8; two stages
      # (so a strided block and two projections), 4 filters.
      'smoke': ScaleConfig(
          num_train_examples=20, num_validation_examples=10, num_test_examples=10, eval_batch_size=8,
          validation_target_value=0.5, test_target_value=0.5,
          max_allowed_runtime_sec=600, eval_period_time_sec=1, step_hint=20,
          batch_size_divisor=128, provisional_targets=True,
          model={'num_classes': 19, 'stage_sizes': (1, 1), 'num_filters': 4}),
  }

  def is_output_params(self, param_key) -> bool:
    return param_name_tokens(param_key)[:1] in (('Dense_0',), ('fc',))




class SiLUVariant:
  """imagenet_resnet_silu: every ReLU becomes SiLU."""
  MODEL_OVERRIDES = {'act': 'silu'}
  SCALES = with_targets(BaseImagenetResNetWorkload.SCALES, {'full': (0.75445, 0.6323)})


class GELUVariant:
  """imagenet_resnet_gelu: every ReLU becomes tanh-approximate GELU."""
  MODEL_OVERRIDES = {'act': 'gelu'}
  SCALES = with_targets(BaseImagenetResNetWorkload.SCALES, {'full': (0.76765, 0.6519)})


class LargeBNScaleVariant:
  """imagenet_resnet_large_bn_init: the last BN of every residual branch starts at scale 8 instead of 0."""
  MODEL_OVERRIDES = {'bn_init_scale': 8.0}
  SCALES = with_targets(BaseImagenetResNetWorkload.SCALES, {'full': (0.76526, 0.6423)})

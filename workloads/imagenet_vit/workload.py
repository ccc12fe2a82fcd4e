"""ImageNet ViT-S/16 and its held-out variants, framework-neutral: scales, targets, budgets, augmentation.

spec/harness.md §3.1-3.3 and spec/variants.md §5. Training adds RandAugment (2 layers, magnitude 10) and
mixup (alpha 0.2) to the ResNet pipeline; eval is the same. The JAX and PyTorch modules define the
registered classes (ImagenetVitWorkload, ImagenetVitGluWorkload, ...) from these bases.
"""
from workloads.common.base import ScaleConfig
from workloads.imagenet_common.workload import LITE_DATA, BaseImagenetWorkload, param_name_tokens, with_targets


class BaseImagenetVitWorkload(BaseImagenetWorkload):
  use_randaug = True
  use_mixup = True
  SCALES = {
      # Upstream: ImageNet-2012 train / val, ImageNet-v2 as test; eval_train rounded up to the eval batch.
      'full': ScaleConfig(
          num_train_examples=1_281_167, num_validation_examples=50_000, num_test_examples=10_000,
          num_eval_train_examples=51_200, eval_batch_size=2048,
          validation_target_value=0.77309, test_target_value=0.6519,
          max_allowed_runtime_sec=69_768, max_allowed_runtime_sec_v05=77_520,
          step_hint=167_999, step_hint_v05=186_666, eval_period_time_sec=420,
          model={'num_classes': 1000, 'patch_size': 16, 'width': 384, 'depth': 12, 'mlp_dim': 1536,
                 'num_heads': 6}),
      # LITE_DATA at 32 px in 8x8 patches (16 tokens), 4 blocks of width 64.
      'lite': ScaleConfig(
          **LITE_DATA,
          model={'num_classes': 10, 'patch_size': 8, 'width': 64, 'depth': 4, 'mlp_dim': 256, 'num_heads': 4}),
      # Unit tests: the 20 real ImageNet JPEGs of foolbox (19 classes), batches of 1024/128 = 8.
      'smoke': ScaleConfig(
          num_train_examples=20, num_validation_examples=10, num_test_examples=10, eval_batch_size=8,
          validation_target_value=0.5, test_target_value=0.5,
          max_allowed_runtime_sec=600, eval_period_time_sec=1, step_hint=20,
          batch_size_divisor=128, provisional_targets=True,
          model={'num_classes': 19, 'patch_size': 8, 'width': 32, 'depth': 2, 'mlp_dim': 64, 'num_heads': 2}),
  }

  def is_output_params(self, param_key) -> bool:
    return param_name_tokens(param_key)[:1] == ('head',)




class GluVariant:
  """imagenet_vit_glu: each block's MLP gates its GELU hidden with a second Dense (no activation)."""
  MODEL_OVERRIDES = {'use_glu': True}
  SCALES = with_targets(BaseImagenetVitWorkload.SCALES, {'full': (0.75738, 0.6359)})


class PostLNVariant:
  """imagenet_vit_post_ln: LayerNorm after each residual add; no final encoder LayerNorm."""
  MODEL_OVERRIDES = {'use_post_layer_norm': True}
  SCALES = with_targets(BaseImagenetVitWorkload.SCALES, {'full': (0.75312, 0.6286)})


class MapVariant:
  """imagenet_vit_map: multihead attention pooling instead of the token average."""
  MODEL_OVERRIDES = {'use_map': True}
  SCALES = with_targets(BaseImagenetVitWorkload.SCALES, {'full': (0.77113, 0.6523)})

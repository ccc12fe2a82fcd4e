"""The Conformer's settings, shared by the Flax and PyTorch models (defaults: the published model)."""
import dataclasses

from workloads.librispeech_common.specaug import SpecAugConfig

# 1 / softplus(0): the learned query scale multiplies by exactly 1 at init.
R_SOFTPLUS_0 = 1.442695041


@dataclasses.dataclass(frozen=True)
class ConformerConfig:
  vocab_size: int = 1024
  encoder_dim: int = 512
  num_attention_heads: int = 8
  num_encoder_layers: int = 4
  convolution_kernel_size: int = 5
  feed_forward_expansion_factor: int = 4
  # Inside the FF module, after the activation; upstream's PyTorch default (the residual dropouts take the
  # submission's dropout_rate).
  feed_forward_dropout_rate: float = 0.0
  batch_norm_momentum: float = 0.999
  batch_norm_epsilon: float = 1e-3
  use_specaug: bool = True
  spec_aug: SpecAugConfig = SpecAugConfig()
  # PyTorch only (JAX compiles one shape): skip the trailing padding in the front end and subsampling
  # (pytorch/layers.py subsampled_features); the same outputs, cheaper when batches are mostly padding.
  trim_padding: bool = False
  attention_temperature: float = 1.0  # Multiplies the attention output (the _attention_temperature variant).
  activation: str = 'swish'  # 'gelu' in the _gelu variant (tanh approximation everywhere).
  use_post_layer_norm: bool = True  # False in the _layernorm variant.

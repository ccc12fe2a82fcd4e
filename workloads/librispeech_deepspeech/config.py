"""DeepSpeech's settings, shared by the Flax and PyTorch models (defaults: the published model)."""
import dataclasses

from workloads.librispeech_common.specaug import SpecAugConfig


@dataclasses.dataclass(frozen=True)
class DeepspeechConfig:
  vocab_size: int = 1024
  encoder_dim: int = 512  # The BiLSTMs have encoder_dim // 2 units per direction.
  num_lstm_layers: int = 6
  num_ffn_layers: int = 3
  batch_norm_momentum: float = 0.999
  batch_norm_epsilon: float = 1e-3
  use_specaug: bool = True
  spec_aug: SpecAugConfig = SpecAugConfig()
  # PyTorch only (JAX compiles one shape): skip the trailing padding in the front end and subsampling
  # (pytorch/layers.py subsampled_features); the same outputs, cheaper when batches are mostly padding.
  trim_padding: bool = False
  use_tanh: bool = False  # tanh instead of ReLU in the subsampling convs and the FFNs (_tanh).
  enable_residual_connections: bool = True  # False in _no_resnet.
  enable_decoder_layer_norm: bool = True  # False in _norm_and_spec_aug.
  layernorm_everywhere: bool = False  # LayerNorm instead of BatchNorm before LSTMs and FFNs (_norm_and_spec_aug).

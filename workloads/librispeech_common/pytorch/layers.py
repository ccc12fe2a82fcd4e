"""PyTorch twins of librispeech_common/jax/layers.py: the same math, parameter shapes and names mapped.

Shapes: audio (B, samples); features (B, frames, 80); activations (B, time, dim); paddings are 0/1 floats
with 1 on padding. Convolutions use NCHW internally and reproduce TF 'SAME' padding explicitly.
"""
import functools
from typing import Dict, Optional, Tuple

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from workloads.librispeech_common import frontend
from workloads.librispeech_common.specaug import SpecAugConfig

ACTIVATIONS = {
    'relu': F.relu,
    'tanh': torch.tanh,
    'swish': F.silu,
    'gelu': functools.partial(F.gelu, approximate='tanh'),
}


class LogMel(nn.Module):
  """frontend.log_mel in PyTorch; its constants are buffers (not parameters, not saved)."""

  def __init__(self):
    super().__init__()
    for name, value in (('window', frontend.window()), ('mel', frontend.mel_matrix()),
                        ('mean', torch.tensor(frontend.FEATURE_MEAN, dtype=torch.float32)),
                        ('stddev', torch.tensor(frontend.FEATURE_STDDEV, dtype=torch.float32))):
      self.register_buffer(name, torch.as_tensor(value), persistent=False)

  def forward(self, audio: torch.Tensor, paddings: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    audio = audio.float() * (1.0 - paddings) * frontend.INPUT_SCALE
    frames = audio.unfold(1, frontend.FRAME_SIZE, frontend.FRAME_STEP)  # (B, frames, 401)
    emphasised = frontend.preemphasise(frames, torch.cat)
    spectrum = torch.abs(torch.fft.rfft(emphasised * self.window, frontend.FFT_SIZE, dim=-1))**2
    features = torch.log(torch.clamp(spectrum @ self.mel, min=frontend.LOG_FLOOR))
    features = (features - self.mean) / self.stddev
    frame_paddings = paddings.unfold(1, frontend.FRAME_SIZE, frontend.FRAME_STEP).amin(dim=-1)
    return features, frame_paddings


def spec_augment_masks(u_time: torch.Tensor, u_freq: torch.Tensor, paddings: torch.Tensor, num_bins: int,
                       config: SpecAugConfig) -> Tuple[torch.Tensor, torch.Tensor]:
  """(B, frames) and (B, bins) keep-masks from uniform draws u_time (B, count, 2) and u_freq (B, count, 2)."""

  def keep(u, choose_range, max_size, max_ratio, size):
    length = (max_size[:, None] * u[..., 0]).to(torch.int32)
    bound = torch.clamp((max_ratio * choose_range).to(torch.int32), min=1)[:, None]
    length = torch.minimum(length, bound)
    start = (u[..., 1] * (choose_range[:, None] - length + 1).float()).to(torch.int32)
    position = torch.arange(size, device=u.device)[None, None, :]
    inside = (position >= start[..., None]) & (position < (start + length)[..., None])
    return 1.0 - inside.any(dim=1).float()

  lengths = torch.sum(1.0 - paddings, dim=-1)
  ratio = config.time_mask_max_ratio
  time_keep = keep(u_time, lengths, ratio * lengths, ratio, paddings.shape[1])
  bins = torch.full(paddings.shape[:1], float(num_bins), device=paddings.device)
  freq_keep = keep(u_freq, bins, torch.full_like(bins, float(config.freq_mask_max_bins)), 1.0, num_bins)
  return time_keep, freq_keep


def _uniform_rows(batch: int, count: int, device) -> torch.Tensor:
  """(batch, count, 2) uniform draws for this DDP rank's rows of the global batch.

  Every rank draws the whole global batch's numbers from its generator (seeded alike at init) and keeps its
  own slice: the masks are those one process draws for the same global batch, as in JAX, where they are drawn
  for the global batch; drawing only `batch` rows would give every rank the same masks.
  """
  rank, world = 0, 1
  if dist.is_available() and dist.is_initialized():
    rank, world = dist.get_rank(), dist.get_world_size()
  return torch.rand(batch * world, count, 2, device=device)[rank * batch:(rank + 1) * batch]


def spec_augment(features: torch.Tensor, paddings: torch.Tensor, config: SpecAugConfig) -> torch.Tensor:
  batch, _, num_bins = features.shape
  u_time = _uniform_rows(batch, config.time_mask_count, features.device)
  u_freq = _uniform_rows(batch, config.freq_mask_count, features.device)
  time_keep, freq_keep = spec_augment_masks(u_time, u_freq, paddings, num_bins, config)
  return features * time_keep[:, :, None] * freq_keep[:, None, :]


def trim_padding(audio: torch.Tensor, paddings: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
  """The leading samples the valid subsampled outputs depend on (frontend.kept_samples): the lite batches
  are padded to 3 s but mostly shorter. A host sync, for a dynamic shape."""
  used = torch.nonzero((paddings < 0.5).any(dim=0))
  samples = frontend.kept_samples(paddings.shape[1], int(used[-1]) if len(used) else -1)
  return audio[:, :samples], paddings[:, :samples]


def subsampled_features(model: nn.Module, inputs: torch.Tensor,
                        input_paddings: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
  """log-mel -> SpecAugment (training) -> conv subsampling of a model with `preprocessor`, `subsample` and a
  `config` (use_specaug, spec_aug, trim_padding). With trim_padding the front end and the convs skip the
  trailing padding; the outputs are the same, at full length."""
  c = model.config
  num_frames = frontend.num_frames(inputs.shape[1])
  if c.trim_padding:
    inputs, input_paddings = trim_padding(inputs, input_paddings)
  features, paddings = model.preprocessor(inputs, input_paddings)
  if model.training and c.use_specaug:
    features = spec_augment(features, paddings, c.spec_aug)
  return model.subsample(features, paddings, num_frames)


class LayerNorm(nn.Module):
  """LayerNorm with (1 + scale), scale initialised to 0."""

  def __init__(self, dim: int, epsilon: float = 1e-6):
    super().__init__()
    self.scale = nn.Parameter(torch.zeros(dim))
    self.bias = nn.Parameter(torch.zeros(dim))
    self.epsilon = epsilon

  def forward(self, x):
    mean = x.mean(dim=-1, keepdim=True)
    var = torch.square(x - mean).mean(dim=-1, keepdim=True)
    return (x - mean) * torch.rsqrt(var + self.epsilon) * (1.0 + self.scale) + self.bias


def _all_reduce(x: torch.Tensor) -> torch.Tensor:
  """Sums over DDP ranks (differentiably), so statistics are those of the global batch, as in JAX."""
  if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
    import torch.distributed.nn  # pylint: disable=import-outside-toplevel
    return torch.distributed.nn.all_reduce(x)
  return x


class BatchNorm(nn.Module):
  """BatchNorm over the valid positions with (1 + scale); padded outputs are 0; momentum 0.999.

  In train mode the batch statistics normalise; the running averages move only while `update_stats`.
  """

  def __init__(self, dim: int, momentum: float = 0.999, epsilon: float = 1e-3):
    super().__init__()
    self.scale = nn.Parameter(torch.zeros(dim))
    self.bias = nn.Parameter(torch.zeros(dim))
    self.register_buffer('running_mean', torch.zeros(dim))
    self.register_buffer('running_var', torch.ones(dim))
    self.momentum, self.epsilon = momentum, epsilon
    self.update_stats = True

  def forward(self, x, paddings):
    mask = (1.0 - paddings)[..., None]
    if self.training:
      count = torch.clamp(_all_reduce(mask.sum()), min=1.0)
      mean = _all_reduce((x * mask).sum(dim=(0, 1))) / count
      var = _all_reduce((torch.square(x - mean) * mask).sum(dim=(0, 1))) / count
      if self.update_stats:
        with torch.no_grad():
          self.running_mean.mul_(self.momentum).add_((1.0 - self.momentum) * mean.detach())
          self.running_var.mul_(self.momentum).add_((1.0 - self.momentum) * var.detach())
    else:
      mean, var = self.running_mean, self.running_var
    return ((x - mean) * (1.0 + self.scale) * torch.rsqrt(var + self.epsilon) + self.bias) * mask


def set_batch_norm_updates(model: nn.Module, update: bool) -> None:
  for module in model.modules():
    if isinstance(module, BatchNorm):
      module.update_stats = update


def same_padding(size: int) -> Tuple[int, int]:
  """TF 'SAME' padding of a 3-wide, stride-2 window: (0, 1) for even sizes, (1, 1) for odd ones."""
  total = max(3 - (2 if size % 2 == 0 else size % 2), 0)
  return total // 2, total - total // 2


class Conv2dSubsampling(nn.Module):
  """3x3 stride-2 conv with TF 'SAME' padding, bias and activation; padded time steps are zeroed."""

  def __init__(self, in_channels: int, out_channels: int, activation: str = 'relu'):
    super().__init__()
    self.kernel = nn.Parameter(nn.init.xavier_uniform_(torch.empty(out_channels, in_channels, 3, 3)))
    self.bias = nn.Parameter(torch.zeros(out_channels))
    self.activation = activation

  def forward(self, x, paddings):  # x: (B, C, T, F)
    (top, bottom), (left, right) = same_padding(x.shape[2]), same_padding(x.shape[3])
    y = F.conv2d(F.pad(x, (left, right, top, bottom)), self.kernel, self.bias, stride=2)
    y = ACTIVATIONS[self.activation](y)
    paddings = paddings[:, ::2]
    return y * (1.0 - paddings)[:, None, :, None], paddings


class Subsample(nn.Module):
  """Two Conv2dSubsampling (x4 in time and frequency), flatten frequency x channels, Linear to `dim`."""

  def __init__(self, dim: int, num_bins: int = frontend.NUM_MEL_BINS, activation: str = 'relu'):
    super().__init__()
    self.conv1 = Conv2dSubsampling(1, dim, activation)
    self.conv2 = Conv2dSubsampling(dim, dim, activation)
    reduced_bins = (num_bins + 1) // 2
    reduced_bins = (reduced_bins + 1) // 2
    self.linear = xavier_linear(dim * reduced_bins, dim)

  def forward(self, features, paddings, num_frames: Optional[int] = None):
    """With `num_frames` (the frame count before a trim_padding), the output has that count's length: the
    convs' outputs past the trimmed frames are padding, zeroed as at full length."""
    x, paddings = self.conv1(features[:, None], paddings)
    x, paddings = self.conv2(x, paddings)
    missing = 0 if num_frames is None else (num_frames + 3) // 4 - x.shape[2]  # Two stride-2 convs: ceil(/4).
    if missing:
      x, paddings = F.pad(x, (0, 0, 0, missing)), F.pad(paddings, (0, missing), value=1.0)
    batch, channels, time, bins = x.shape
    # Flatten as (frequency, channel), the order of the JAX twin's NHWC reshape.
    x = x.permute(0, 2, 3, 1).reshape(batch, time, bins * channels)
    return self.linear(x), paddings


def xavier_linear(in_features: int, out_features: int) -> nn.Linear:
  """A Linear initialised like Flax's Dense with xavier_uniform kernels and zero biases."""
  layer = nn.Linear(in_features, out_features)
  nn.init.xavier_uniform_(layer.weight)
  nn.init.zeros_(layer.bias)
  return layer


def ctc_loss(logits: torch.Tensor, logit_paddings: torch.Tensor, targets: torch.Tensor,
             target_paddings: torch.Tensor, weights: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
  """Per-utterance CTC (blank 0), summed over the real utterances and normalised by their target tokens."""
  log_probs = torch.log_softmax(logits.float(), dim=-1).transpose(0, 1)  # (T, B, vocab)
  # A fully padded row (eval padding) gets one frame so the loss stays finite; its weight is 0.
  input_lengths = torch.clamp(torch.sum(1.0 - logit_paddings, dim=-1).long(), min=1)
  target_lengths = torch.sum(1.0 - target_paddings, dim=-1).long()
  per_example = F.ctc_loss(log_probs, targets.long(), input_lengths, target_lengths, blank=0, reduction='none',
                           zero_infinity=False)
  if weights is None:
    weights = torch.ones_like(per_example)
  per_example = per_example * weights
  n_valid = torch.clamp(torch.sum(weights[:, None] * (1.0 - target_paddings)), min=1.0)
  return {'summed': per_example.sum(), 'n_valid_examples': n_valid, 'per_example': per_example}

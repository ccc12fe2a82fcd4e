"""The fastMRI U-Net in PyTorch (spec/variants.md §8), NCHW; the twin of jax/models.py.

Parameter names follow upstream's PyTorch model (down_sample_layers.i.conv_layers.{0,1,4,5}, conv,
up_transpose_conv.i.layers.0, up_conv.i, and the final 1x1 conv as up_conv.{P-1}.1). Weights start like
Flax's defaults (LeCun-normal kernels with Flax's fan-in, zero bias), so the twins train alike.
"""
from typing import List, Optional

import torch
from torch import nn
import torch.nn.functional as F


def lecun_normal_flax_(weight: torch.Tensor, fan_in: int) -> torch.Tensor:
  """Truncated normal with variance 1/fan_in, as flax.linen's default kernel init."""
  std = (1.0 / fan_in)**0.5 / 0.87962566103423978  # The std of a standard normal truncated to [-2, 2].
  return nn.init.trunc_normal_(weight, std=std, a=-2 * std, b=2 * std)


class _SameConv3x3(torch.autograd.Function):
  """F.conv2d(x, weight, padding=1) whose input gradient is computed as a forward convolution.

  The input gradient of a stride-1 'same' 3x3 convolution is the same convolution of the output gradient with
  the kernel's in/out channels swapped and its taps flipped. On the CPU, oneDNN's own backward-data pass is
  ~10x its forward pass on the lite model's narrow 80 x 80 maps (~3.8 ms against ~0.4 ms per layer, batch 8);
  the forward path gives the same sums. The forward and the weight gradient are PyTorch's own.
  """

  @staticmethod
  def forward(ctx, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    ctx.save_for_backward(x, weight)
    return F.conv2d(x, weight, padding=1)

  @staticmethod
  def backward(ctx, grad: torch.Tensor):
    x, weight = ctx.saved_tensors
    grad_x = grad_weight = None
    if ctx.needs_input_grad[0]:
      grad_x = F.conv2d(grad, weight.transpose(0, 1).flip(-2, -1), padding=1)
    if ctx.needs_input_grad[1]:
      grad_weight = torch.nn.grad.conv2d_weight(x, weight.shape, grad, padding=1)
    return grad_x, grad_weight


class Conv3x3(nn.Conv2d):
  """The ConvBlocks' 3x3 convolution (padding 1, no bias); on the CPU its input gradient runs as a forward
  convolution (_SameConv3x3)."""

  def __init__(self, in_channels: int, out_channels: int):
    super().__init__(in_channels, out_channels, kernel_size=3, padding=1, bias=False)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    if x.device.type != 'cpu':
      return super().forward(x)
    return _SameConv3x3.apply(x, self.weight)


class ChannelDropout(nn.Module):
  """A slot for Dropout2d whose rate is given at call time (the workload's dropout_rate)."""

  def forward(self, x: torch.Tensor, rate: float) -> torch.Tensor:
    return F.dropout2d(x, rate, self.training) if rate else x


def _activation(use_tanh: bool) -> nn.Module:
  return nn.Tanh() if use_tanh else nn.LeakyReLU(negative_slope=0.2)


def _norm(channels: int, use_layer_norm: bool) -> nn.Module:
  # GroupNorm with one group normalises over (C, H, W) with per-channel affine: Flax's LayerNorm over
  # (H, W, C) with feature-axis scale and bias.
  if use_layer_norm:
    return nn.GroupNorm(1, channels, eps=1e-6)
  return nn.InstanceNorm2d(channels, eps=1e-5, affine=False, track_running_stats=False)


class ConvBlock(nn.Module):
  """[3x3 conv (no bias) -> norm -> activation -> Dropout2d] x 2."""

  def __init__(self, in_channels: int, out_channels: int, use_tanh: bool, use_layer_norm: bool):
    super().__init__()
    self.conv_layers = nn.Sequential(
        Conv3x3(in_channels, out_channels),
        _norm(out_channels, use_layer_norm), _activation(use_tanh), ChannelDropout(),
        Conv3x3(out_channels, out_channels),
        _norm(out_channels, use_layer_norm), _activation(use_tanh), ChannelDropout())

  def forward(self, x: torch.Tensor, dropout_rate: float) -> torch.Tensor:
    for layer in self.conv_layers:
      x = layer(x, dropout_rate) if isinstance(layer, ChannelDropout) else layer(x)
    return x


class TransposeConvBlock(nn.Module):
  """2x2 stride-2 transpose conv (no bias) -> instance norm -> activation."""

  def __init__(self, in_channels: int, out_channels: int, use_tanh: bool):
    super().__init__()
    self.layers = nn.Sequential(
        nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2, bias=False),
        nn.InstanceNorm2d(out_channels, eps=1e-5, affine=False, track_running_stats=False),
        _activation(use_tanh))

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return self.layers(x)


class FinalBlock(nn.Module):
  """The last up ConvBlock followed by the 1x1 output conv (upstream's up_conv.{P-1} = (ConvBlock, Conv2d))."""

  def __init__(self, in_channels: int, out_channels: int, use_tanh: bool, use_layer_norm: bool):
    super().__init__()
    self.add_module('0', ConvBlock(in_channels, out_channels, use_tanh, use_layer_norm))
    self.add_module('1', nn.Conv2d(out_channels, 1, kernel_size=1))

  def forward(self, x: torch.Tensor, dropout_rate: float) -> torch.Tensor:
    return getattr(self, '1')(getattr(self, '0')(x, dropout_rate))


class UNet(nn.Module):

  def __init__(self, num_channels: int = 32, num_pool_layers: int = 4, use_tanh: bool = False,
               use_layer_norm: bool = False):
    super().__init__()
    widths = [num_channels * 2**i for i in range(num_pool_layers)]
    self.down_sample_layers = nn.ModuleList(
        [ConvBlock(c_in, c_out, use_tanh, use_layer_norm) for c_in, c_out in zip([1] + widths[:-1], widths)])
    self.conv = ConvBlock(widths[-1], 2 * widths[-1], use_tanh, use_layer_norm)
    self.up_transpose_conv = nn.ModuleList(
        [TransposeConvBlock(2 * ch, ch, use_tanh) for ch in reversed(widths)])
    up: List[nn.Module] = [ConvBlock(2 * ch, ch, use_tanh, use_layer_norm) for ch in reversed(widths[1:])]
    up.append(FinalBlock(2 * widths[0], widths[0], use_tanh, use_layer_norm))
    self.up_conv = nn.ModuleList(up)
    for module in self.modules():
      if isinstance(module, nn.Conv2d):
        lecun_normal_flax_(module.weight, module.weight[0].numel())
      elif isinstance(module, nn.ConvTranspose2d):
        # Flax's ConvTranspose kernel is (kh, kw, in, out): its fan-in counts input channels.
        lecun_normal_flax_(module.weight, module.weight.shape[0] * module.weight[0, 0].numel())
      if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)) and module.bias is not None:
        nn.init.zeros_(module.bias)

  def forward(self, x: torch.Tensor, dropout_rate: Optional[float] = None) -> torch.Tensor:
    """(N, H, W) normalised images -> (N, H, W) reconstructions."""
    rate = 0.0 if dropout_rate is None else dropout_rate
    out = x[:, None]
    skips = []
    for layer in self.down_sample_layers:
      out = layer(out, rate)
      skips.append(out)
      out = F.avg_pool2d(out, kernel_size=2, stride=2)
    out = self.conv(out, rate)
    for transpose, conv, skip in zip(self.up_transpose_conv, self.up_conv, reversed(skips)):
      out = transpose(out)
      pad_h, pad_w = skip.shape[-2] - out.shape[-2], skip.shape[-1] - out.shape[-1]
      if pad_h or pad_w:
        out = F.pad(out, (0, pad_w, 0, pad_h), mode='reflect')
      out = conv(torch.cat([out, skip], dim=1), rate)
    return out[:, 0]

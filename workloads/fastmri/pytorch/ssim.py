"""SSIM in PyTorch (see workloads/fastmri/ssim.py): batched, the 7 x 7 box filter as shifted sums."""
import torch

from workloads.fastmri import ssim as ssim_spec


def _symmetric_pad(x: torch.Tensor, pad: int) -> torch.Tensor:
  """numpy's 'symmetric' padding of the last two axes (F.pad's 'reflect' leaves out the edge pixel)."""
  x = torch.cat([x[..., :pad, :].flip(-2), x, x[..., -pad:, :].flip(-2)], dim=-2)
  return torch.cat([x[..., :pad].flip(-1), x, x[..., -pad:].flip(-1)], dim=-1)


def _window_means(x: torch.Tensor, y: torch.Tensor):
  """The window means of x, y, x^2, y^2 and xy, filtered as one stack (eager ops cost per call)."""
  maps = torch.stack([x, y, x * x, y * y, x * y])
  return ssim_spec.box_mean(_symmetric_pad(maps, ssim_spec.WIN_SIZE // 2)).unbind(0)


def ssim(outputs: torch.Tensor, targets: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
         volume_max: torch.Tensor) -> torch.Tensor:
  """(N,) SSIM of (N, H, W) normalised predictions and targets, de-normalised with (N,) mean and std."""
  mean, std = mean[:, None, None], std[:, None, None]
  x, y = outputs * std + mean, targets * std + mean
  data_range = torch.where(volume_max == 0, torch.ones_like(volume_max), volume_max)[:, None, None]
  s_map = ssim_spec.ssim_map_terms(*_window_means(x, y), data_range)
  pad = (ssim_spec.WIN_SIZE - 1) // 2
  return torch.clamp(s_map[:, pad:-pad, pad:-pad].mean(dim=(1, 2)), -1.0, 1.0)

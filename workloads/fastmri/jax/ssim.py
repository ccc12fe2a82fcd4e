"""SSIM in JAX (see workloads/fastmri/ssim.py): batched, the 7 x 7 box filter as shifted sums."""
import jax.numpy as jnp

from workloads.fastmri import ssim as ssim_spec


def _window_means(x: jnp.ndarray, y: jnp.ndarray):
  """The window means of x, y, x^2, y^2 and xy over H and W, numpy-'symmetric' padding (scipy 'reflect')."""
  pad = ssim_spec.WIN_SIZE // 2
  maps = jnp.stack([x, y, x * x, y * y, x * y])
  return tuple(ssim_spec.box_mean(jnp.pad(maps, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode='symmetric')))


def ssim(outputs: jnp.ndarray, targets: jnp.ndarray, mean: jnp.ndarray, std: jnp.ndarray,
         volume_max: jnp.ndarray) -> jnp.ndarray:
  """(N,) SSIM of (N, H, W) normalised predictions and targets, de-normalised with (N,) mean and std."""
  mean, std = mean[:, None, None], std[:, None, None]
  x, y = outputs * std + mean, targets * std + mean
  data_range = jnp.where(volume_max == 0, 1.0, volume_max)[:, None, None]
  s_map = ssim_spec.ssim_map_terms(*_window_means(x, y), data_range)
  pad = (ssim_spec.WIN_SIZE - 1) // 2
  return jnp.clip(jnp.mean(s_map[:, pad:-pad, pad:-pad], axis=(1, 2)), -1.0, 1.0)

"""SSIM in JAX (see workloads/fastmri/ssim.py): batched, the 7 x 7 box filter as one reduce_window."""
import jax
import jax.numpy as jnp

from workloads.fastmri import ssim as ssim_spec


def _box_mean(x: jnp.ndarray) -> jnp.ndarray:
  """Uniform filter over H and W of (N, H, W), numpy-'symmetric' padding (scipy 'reflect')."""
  pad = ssim_spec.WIN_SIZE // 2
  padded = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad)), mode='symmetric')
  window = (1, ssim_spec.WIN_SIZE, ssim_spec.WIN_SIZE)
  return jax.lax.reduce_window(padded, 0.0, jax.lax.add, window, (1, 1, 1), 'VALID') / ssim_spec.WIN_SIZE**2


def ssim(outputs: jnp.ndarray, targets: jnp.ndarray, mean: jnp.ndarray, std: jnp.ndarray,
         volume_max: jnp.ndarray) -> jnp.ndarray:
  """(N,) SSIM of (N, H, W) normalised predictions and targets, de-normalised with (N,) mean and std."""
  mean, std = mean[:, None, None], std[:, None, None]
  x, y = outputs * std + mean, targets * std + mean
  data_range = jnp.where(volume_max == 0, 1.0, volume_max)[:, None, None]
  s_map = ssim_spec.ssim_map_terms(_box_mean(x), _box_mean(y), _box_mean(x * x), _box_mean(y * y),
                                   _box_mean(x * y), data_range)
  pad = (ssim_spec.WIN_SIZE - 1) // 2
  return jnp.clip(jnp.mean(s_map[:, pad:-pad, pad:-pad], axis=(1, 2)), -1.0, 1.0)

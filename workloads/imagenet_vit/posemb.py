"""ViT's fixed 2-D sin-cos position embedding (MoCo v3 style), shared by both frameworks as a constant.

For an h x w grid of patches (row-major, as the patch conv's output is flattened) and width d: d/4
frequencies 1 / 10000^(k / (d/4 - 1)), k = 0..d/4-1, and per token the concatenation
[sin(x f), cos(x f), sin(y f), cos(y f)], where x is the patch's column and y its row. Not a parameter.
"""
import numpy as np

TEMPERATURE = 10_000.0


def sincos_2d(h: int, w: int, width: int, temperature: float = TEMPERATURE) -> np.ndarray:
  """float32 (h * w, width)."""
  if width % 4:
    raise ValueError(f'The sin-cos position embedding needs a width divisible by 4, not {width}.')
  quarter = width // 4
  omega = 1.0 / temperature**(np.arange(quarter) / max(quarter - 1, 1))
  y, x = np.mgrid[:h, :w]
  x_angles = x.reshape(-1)[:, None] * omega[None, :]
  y_angles = y.reshape(-1)[:, None] * omega[None, :]
  embedding = np.concatenate([np.sin(x_angles), np.cos(x_angles), np.sin(y_angles), np.cos(y_angles)], axis=1)
  return embedding.astype(np.float32)

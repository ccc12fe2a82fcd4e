"""SSIM as the fastMRI workload scores it, framework-neutral: the constants and a numpy reference.

Per example: de-normalise prediction and target with the input's mean and std, then the mean SSIM
(Wang et al. 2004) with a uniform 7 x 7 window (symmetric padding at the borders, sample covariances),
k1 = 0.01, k2 = 0.03 and data range = the volume's max (1 where it is 0, i.e. padding), averaged over the
interior (a 3-pixel border is dropped) and clipped to [-1, 1]. The JAX and PyTorch versions compute the
same; tests compare all three.
"""
import functools
import operator

import numpy as np
from scipy import ndimage

WIN_SIZE = 7
K1 = 0.01
K2 = 0.03
# The window's sample covariance: 49 points, divided by 48.
COV_NORM = WIN_SIZE**2 / (WIN_SIZE**2 - 1)


def box_mean(padded):
  """The means of the WIN_SIZE x WIN_SIZE windows of `padded` (..., H + WIN_SIZE - 1, W + WIN_SIZE - 1).

  Array-library neutral: WIN_SIZE shifted blocks of rows summed, then of columns, over WIN_SIZE^2: 14 adds
  a pixel where torch's avg_pool2d and XLA's reduce_window sum each 7 x 7 window from scratch (49), several
  times cheaper on the CPU.
  """
  h, w = padded.shape[-2] - WIN_SIZE + 1, padded.shape[-1] - WIN_SIZE + 1
  rows = functools.reduce(operator.add, [padded[..., i:i + h, :] for i in range(WIN_SIZE)])
  return functools.reduce(operator.add, [rows[..., j:j + w] for j in range(WIN_SIZE)]) / WIN_SIZE**2


def ssim_map_terms(ux, uy, uxx, uyy, uxy, data_range):
  """The SSIM map from window means of x, y, x^2, y^2 and xy (array-library neutral arithmetic)."""
  vx = COV_NORM * (uxx - ux * ux)
  vy = COV_NORM * (uyy - uy * uy)
  vxy = COV_NORM * (uxy - ux * uy)
  c1 = (K1 * data_range)**2
  c2 = (K2 * data_range)**2
  return ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))


def ssim_numpy(outputs: np.ndarray, targets: np.ndarray, mean: np.ndarray, std: np.ndarray,
               volume_max: np.ndarray) -> np.ndarray:
  """(N,) SSIM of (N, H, W) normalised predictions against normalised targets, in float64."""
  pad = (WIN_SIZE - 1) // 2
  results = []
  for out, tgt, m, s, vmax in zip(outputs, targets, mean, std, volume_max):
    x = np.asarray(out, np.float64) * s + m
    y = np.asarray(tgt, np.float64) * s + m
    box = lambda a: ndimage.uniform_filter(a, WIN_SIZE, mode='reflect')  # pylint: disable=unnecessary-lambda-assignment
    data_range = vmax if vmax != 0 else 1.0
    s_map = ssim_map_terms(box(x), box(y), box(x * x), box(y * y), box(x * y), data_range)
    results.append(np.clip(s_map[pad:-pad, pad:-pad].mean(), -1.0, 1.0))
  return np.asarray(results)

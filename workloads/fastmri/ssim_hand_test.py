"""fastMRI SSIM pinned to values worked out on paper, in every implementation (JAX, PyTorch, numpy).

The other SSIM tests compare the three implementations with each other; these compare each one with a
number derived by hand from the definition in the spec (harness.md, fastmri): de-normalise with the
example's mean and std, 7 x 7 uniform window with sample (co)variances (divide by 48, not 49),
c1 = (0.01 * R)^2, c2 = (0.03 * R)^2 with R = volume_max (1 where it is 0), SSIM map
((2 ux uy + c1)(2 vxy + c2)) / ((ux^2 + uy^2 + c1)(vx + vy + c2)), averaged over the interior.

Every image is 7 x 7, so the interior is the single centre pixel whose window is the whole image
(padding plays no part). Three cases pin one thing each:
- constant images: no variance, so the contrast-structure factor is c2 / c2 = 1 and only K1 is seen;
- equal means, different structure: the luminance factor is 1 and only K2 is seen;
- both factors below 1 with R = 2 and with volume_max 0 (R = 1): K1 and K2 together, the data range,
  and the de-normalisation (the inputs are passed normalised with a mean and std that are not 0 and 1).
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from workloads.fastmri import ssim as ssim_reference
from workloads.fastmri.jax import ssim as jax_ssim
from workloads.fastmri.pytorch import ssim as torch_ssim


def _row_image(row: int, value: float) -> np.ndarray:
  image = np.zeros((7, 7), np.float64)
  image[row] = value
  return image


# De-normalised predictions x, targets y, volume_max, and the hand value.
CASES = {
    # K1 only. x = 0.02 and y = 0.01 everywhere, R = 2: c1 = (0.01 * 2)^2 = 0.0004.
    # Luminance (2 * 0.02 * 0.01 + 0.0004) / (0.02^2 + 0.01^2 + 0.0004) = 0.0008 / 0.0009 = 8/9.
    # All variances are 0: contrast-structure c2 / c2 = 1. (K1 = 0.03 would give 0.004/0.0041 = 40/41.)
    'k1_only': (np.full((7, 7), 0.02), np.full((7, 7), 0.01), 2.0, 8 / 9),
    # K2 only. x has 0.14 on row 6, y has 0.14 on row 0, zeros elsewhere, R = 2: c2 = (0.03 * 2)^2 = 0.0036.
    # ux = uy = 0.14 / 7 = 0.02: luminance 1.
    # vx = vy = 49/48 * (0.14^2 / 7 - 0.02^2) = 49/48 * (0.0028 - 0.0004) = 0.0196 / 8 = 0.00245.
    # vxy = 49/48 * (0 - 0.02 * 0.02) = -0.0196 / 48 (the rows never overlap: mean of xy is 0).
    # Contrast-structure (2 * -0.0196/48 + 0.0036) / (0.00245 + 0.00245 + 0.0036)
    #   = (0.0864 - 0.0196) / 24 / 0.0085 = 0.0668 / 0.204 = 167/510 = 0.327451...
    # (K2 = 0.01 would give (0.0004 - 0.0196/24) / (0.0049 + 0.0004) < 0.)
    'k2_only': (_row_image(6, 0.14), _row_image(0, 0.14), 2.0, 167 / 510),
    # Both. x has 0.14 on row 0, y has 0.07 on row 0, zeros elsewhere, R = 2 (c1 = 0.0004, c2 = 0.0036).
    # ux = 0.02, uy = 0.01: luminance (0.0004 + 0.0004) / (0.0005 + 0.0004) = 8/9.
    # A row of value a has variance 49/48 * (a^2/7 - a^2/49) = a^2/8, so vx = 0.0196/8 = 0.00245,
    # vy = 0.0049/8 = 0.0006125, vxy = 0.14 * 0.07 / 8 = 0.001225.
    # Contrast-structure (0.00245 + 0.0036) / (0.0030625 + 0.0036) = 0.00605 / 0.0066625 = 484/533.
    # SSIM = 8/9 * 484/533 = 3872/4797 = 0.807171...
    # With K1 and K2 swapped (c1 = 0.0036, c2 = 0.0004): 40/41 * 0.00285/0.0034625 = 9120/11357 = 0.80304.
    'both': (_row_image(0, 0.14), _row_image(0, 0.07), 2.0, 3872 / 4797),
    # The same images with volume_max 0 (a padding convention): R = 1, c1 = 0.0001, c2 = 0.0009.
    # Luminance (0.0004 + 0.0001) / (0.0005 + 0.0001) = 5/6.
    # Contrast-structure (0.00245 + 0.0009) / (0.0030625 + 0.0009) = 0.00335 / 0.0039625 = 268/317.
    # SSIM = 5/6 * 268/317 = 670/951 = 0.704522...
    'both_volume_max_0': (_row_image(0, 0.14), _row_image(0, 0.07), 0.0, 670 / 951),
}
# Each example is passed normalised with its own mean and std: the implementations must undo it.
MEANS = np.array([0.3, -0.2, 0.5, 0.05])
STDS = np.array([0.5, 2.0, 0.25, 0.1])


def _batch():
  xs, ys, volume_max, expected = zip(*CASES.values())
  mean, std = MEANS[:, None, None], STDS[:, None, None]
  outputs = ((np.stack(xs) - mean) / std).astype(np.float32)
  targets = ((np.stack(ys) - mean) / std).astype(np.float32)
  args = (outputs, targets, MEANS.astype(np.float32), STDS.astype(np.float32), np.array(volume_max, np.float32))
  return args, np.array(expected)


def _numpy(*args):
  return ssim_reference.ssim_numpy(*args)


def _jax(*args):
  return np.asarray(jax.jit(jax_ssim.ssim)(*[jnp.asarray(a) for a in args]))


def _torch(*args):
  return torch_ssim.ssim(*[torch.from_numpy(a) for a in args]).numpy()


@pytest.mark.parametrize('implementation', [_numpy, _jax, _torch], ids=['numpy', 'jax', 'pytorch'])
def test_ssim_matches_the_hand_worked_values(implementation):
  args, expected = _batch()
  value = implementation(*args)
  np.testing.assert_allclose(value, expected, rtol=0, atol=2e-5, err_msg=f'cases: {list(CASES)}')


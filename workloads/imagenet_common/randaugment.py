"""RandAugment (Cubuk et al. 2019) on Pillow images, as the ViT workload trains with it (2 layers, magnitude 10).

Each layer picks one of 16 ops uniformly and applies it at the given magnitude (out of 10). Magnitudes map
to op strengths as in the published TPU recipe: rotations up to 30 degrees, shears up to 0.3, translations
up to 100 px and cutout squares of up to 2*40 px at 224 px (scaled with the image size here, so the reduced
scales see the same relative strength), enhancement factors 0.1 + 1.8 * m/10, posterize to 4 * m/10 bits,
solarize at 256 * m/10, solarize-add of 110 * m/10 below 128. Geometric ops and cutout fill with grey 128;
the signed ops (rotate, shear, translate) flip their sign half of the time. At m = 10 the plain solarize
threshold is 256, so that op leaves the image unchanged: a property of the recipe, kept as published.
"""
from typing import Callable, Dict

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

MAX_LEVEL = 10.0
FILL = (128, 128, 128)
REFERENCE_SIZE = 224.0  # The image size the translate and cutout constants were set for.
TRANSLATE_CONST = 100.0
CUTOUT_CONST = 40.0


def _signed(value: float, rng: np.random.Generator) -> float:
  return -value if rng.uniform() < 0.5 else value


def _enhance_factor(frac: float) -> float:
  return frac * 1.8 + 0.1


def _affine(image: Image.Image, matrix) -> Image.Image:
  return image.transform(image.size, Image.AFFINE, matrix, resample=Image.NEAREST, fillcolor=FILL)


def _rotate(image, frac, rng):
  return image.rotate(_signed(frac * 30.0, rng), resample=Image.NEAREST, fillcolor=FILL)


def _shear_x(image, frac, rng):
  return _affine(image, (1.0, _signed(frac * 0.3, rng), 0.0, 0.0, 1.0, 0.0))


def _shear_y(image, frac, rng):
  return _affine(image, (1.0, 0.0, 0.0, _signed(frac * 0.3, rng), 1.0, 0.0))


def _translate_x(image, frac, rng):
  pixels = _signed(frac * TRANSLATE_CONST * image.width / REFERENCE_SIZE, rng)
  return _affine(image, (1.0, 0.0, pixels, 0.0, 1.0, 0.0))


def _translate_y(image, frac, rng):
  pixels = _signed(frac * TRANSLATE_CONST * image.height / REFERENCE_SIZE, rng)
  return _affine(image, (1.0, 0.0, 0.0, 0.0, 1.0, pixels))


def _cutout(image, frac, rng):
  pad = int(frac * CUTOUT_CONST * min(image.size) / REFERENCE_SIZE)
  if pad <= 0:
    return image
  array = np.array(image)
  cy, cx = rng.integers(0, image.height), rng.integers(0, image.width)
  array[max(0, cy - pad):cy + pad, max(0, cx - pad):cx + pad] = FILL
  return Image.fromarray(array)


def _posterize(image, frac, rng):
  del rng
  return ImageOps.posterize(image, int(frac * 4.0))


def _solarize(image, frac, rng):
  del rng
  return ImageOps.solarize(image, int(frac * 256.0))


def _solarize_add(image, frac, rng):
  del rng
  array = np.asarray(image).astype(np.int32)
  added = np.clip(array + int(frac * 110.0), 0, 255)
  return Image.fromarray(np.where(array < 128, added, array).astype(np.uint8))


def _enhancer(kind) -> Callable:
  def op(image, frac, rng):
    del rng
    return kind(image).enhance(_enhance_factor(frac))
  return op


OPS: Dict[str, Callable] = {
    'AutoContrast': lambda image, frac, rng: ImageOps.autocontrast(image),
    'Equalize': lambda image, frac, rng: ImageOps.equalize(image),
    'Invert': lambda image, frac, rng: ImageOps.invert(image),
    'Rotate': _rotate,
    'Posterize': _posterize,
    'Solarize': _solarize,
    'SolarizeAdd': _solarize_add,
    'Color': _enhancer(ImageEnhance.Color),
    'Contrast': _enhancer(ImageEnhance.Contrast),
    'Brightness': _enhancer(ImageEnhance.Brightness),
    'Sharpness': _enhancer(ImageEnhance.Sharpness),
    'ShearX': _shear_x,
    'ShearY': _shear_y,
    'TranslateX': _translate_x,
    'TranslateY': _translate_y,
    'Cutout': _cutout,
}
OP_NAMES = tuple(OPS)


def apply_op(image: Image.Image, name: str, magnitude: float, rng: np.random.Generator) -> Image.Image:
  return OPS[name](image, magnitude / MAX_LEVEL, rng)


def randaugment(image: Image.Image, rng: np.random.Generator, num_layers: int = 2,
                magnitude: float = 10.0) -> Image.Image:
  """`num_layers` ops drawn uniformly (with replacement), each applied at `magnitude`."""
  image = image.convert('RGB')
  for _ in range(num_layers):
    image = apply_op(image, OP_NAMES[rng.integers(len(OP_NAMES))], magnitude, rng)
  return image

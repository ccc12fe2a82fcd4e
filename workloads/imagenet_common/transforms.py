"""The published per-image ImageNet preprocessing, with Pillow and numpy.

Train: random-resized crop (area 8-100 % of the image, aspect ratio 3/4-4/3, 10 tries, then a centre crop)
resized to the model's resolution, then a horizontal flip half of the time. Eval: resize the shorter side
to `resize_size` (256 at full scale) and take the centre `image_size` crop (224). Both give uint8 HWC RGB;
`normalize` turns a batch into float32 standardised with the ImageNet mean and std (on the 0-255 scale).
"""
import math
from typing import Tuple

import numpy as np
from PIL import Image

MEAN_RGB = np.array([0.485, 0.456, 0.406], np.float32) * 255.0
STDDEV_RGB = np.array([0.229, 0.224, 0.225], np.float32) * 255.0
CROP_AREA_RANGE = (0.08, 1.0)
ASPECT_RATIO_RANGE = (3.0 / 4.0, 4.0 / 3.0)
CROP_ATTEMPTS = 10


def load_rgb(path: str) -> Image.Image:
  """Decodes an image file; greyscale and CMYK JPEGs (ImageNet has both) become RGB."""
  with Image.open(path) as image:
    return image.convert('RGB')


def random_crop_box(width: int, height: int, rng: np.random.Generator) -> Tuple[int, int, int, int]:
  """(left, top, crop width, crop height) of an Inception-style random crop."""
  area = width * height
  log_ratio = (math.log(ASPECT_RATIO_RANGE[0]), math.log(ASPECT_RATIO_RANGE[1]))
  for _ in range(CROP_ATTEMPTS):
    target_area = area * rng.uniform(*CROP_AREA_RANGE)
    aspect = math.exp(rng.uniform(*log_ratio))
    w = int(round(math.sqrt(target_area * aspect)))
    h = int(round(math.sqrt(target_area / aspect)))
    if 0 < w <= width and 0 < h <= height:
      return int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1)), w, h
  # Fallback: the largest centred crop whose aspect ratio is in range.
  ratio = width / height
  if ratio < ASPECT_RATIO_RANGE[0]:
    w, h = width, int(round(width / ASPECT_RATIO_RANGE[0]))
  elif ratio > ASPECT_RATIO_RANGE[1]:
    w, h = int(round(height * ASPECT_RATIO_RANGE[1])), height
  else:
    w, h = width, height
  return (width - w) // 2, (height - h) // 2, w, h


def train_image(image: Image.Image, image_size: int, rng: np.random.Generator) -> Image.Image:
  left, top, w, h = random_crop_box(image.width, image.height, rng)
  image = image.resize((image_size, image_size), Image.BILINEAR, box=(left, top, left + w, top + h))
  if rng.uniform() < 0.5:
    image = image.transpose(Image.FLIP_LEFT_RIGHT)
  return image


def eval_image(image: Image.Image, image_size: int, resize_size: int) -> Image.Image:
  scale = resize_size / min(image.width, image.height)
  width = max(image_size, int(round(image.width * scale)))
  height = max(image_size, int(round(image.height * scale)))
  image = image.resize((width, height), Image.BILINEAR)
  left = int(round((width - image_size) / 2.0))
  top = int(round((height - image_size) / 2.0))
  return image.crop((left, top, left + image_size, top + image_size))


def normalize(images: np.ndarray) -> np.ndarray:
  """uint8 (N, H, W, 3) -> float32 standardised per channel."""
  return (images.astype(np.float32) - MEAN_RGB) / STDDEV_RGB

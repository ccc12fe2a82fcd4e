"""ImageNet batches from JPEG folders: shared by the ResNet-50 and ViT workloads.

Train batches are a pure function of (seed, step): the files of step k come from a seeded permutation per
epoch (common/array_pipeline.py) and each image's crop, flip and RandAugment draws from a seed derived
from (seed, step), so a resumed run sees the same images. ViT adds RandAugment per image and mixup per
batch (one mixing weight ~ Beta(0.2, 0.2); each image is mixed with its neighbour in the batch, and the
targets become the same mix of one-hot labels). Eval splits are re-iterable and padded with a 0/1
'weights' mask; a split small enough is decoded once and kept in memory as uint8.
"""
import concurrent.futures
import os
from typing import Callable, Dict, Iterator, List, Optional, Sequence

import numpy as np

from workloads.common import array_pipeline
from workloads.common.base import ReplayableIterator
from workloads.imagenet_common import folders
from workloads.imagenet_common import randaugment
from workloads.imagenet_common import transforms

MIXUP_ALPHA = 0.2
RANDAUGMENT_LAYERS = 2
RANDAUGMENT_MAGNITUDE = 10
SUBSET_SEED = 0  # Fixes which images a reduced scale uses when it takes part of a split.
CACHE_LIMIT_BYTES = 1 << 30  # Eval splits up to this size (as uint8) are decoded once.

_POOL: Optional[concurrent.futures.ThreadPoolExecutor] = None


def _pool() -> concurrent.futures.ThreadPoolExecutor:
  """Pillow releases the GIL while it decodes and resizes, so threads overlap the per-image work."""
  global _POOL
  if _POOL is None:
    _POOL = concurrent.futures.ThreadPoolExecutor(max_workers=min(16, os.cpu_count() or 1))
  return _POOL


def _map(fn: Callable, *iterables) -> List:
  items = list(zip(*iterables))
  if len(items) < 4:
    return [fn(*item) for item in items]
  return list(_pool().map(lambda item: fn(*item), items))


def take(paths: Sequence[str], labels: Sequence[int], num: int, split: str, data_dir: str):
  """The first `num` examples of a split: all of it in order, or a fixed random subset of it."""
  if num > len(paths):
    raise ValueError(f'The ImageNet {split} split under {data_dir} has {len(paths)} images, but this scale '
                     f'needs {num}; choose the scale that matches the data (tools:make_datasets builds the '
                     'lite and smoke sets) or provide the full dataset.')
  order = np.arange(len(paths))
  if num < len(paths):
    order = np.sort(np.random.RandomState(SUBSET_SEED).permutation(len(paths))[:num])
  return [paths[i] for i in order], np.asarray(labels, np.int32)[order]


def one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
  return np.eye(num_classes, dtype=np.float32)[labels]


def mixup(inputs: np.ndarray, labels: np.ndarray, num_classes: int, rng: np.random.RandomState,
          alpha: float = MIXUP_ALPHA):
  """Mixes each example with its neighbour (a roll of the batch) with one Beta(alpha, alpha) weight."""
  weight = np.float32(rng.beta(alpha, alpha))
  targets = one_hot(labels, num_classes)
  inputs = weight * inputs + (1.0 - weight) * np.roll(inputs, 1, axis=0)
  targets = weight * targets + (1.0 - weight) * np.roll(targets, 1, axis=0)
  return inputs.astype(np.float32), targets.astype(np.float32)


class ImagenetPipeline:
  """One dataset directory at one scale: file lists, train stream and eval splits."""

  def __init__(self, data_dir: str, image_size: int, resize_size: int, num_classes: int,
               use_randaug: bool = False, use_mixup: bool = False):
    self.data_dir = data_dir
    self.image_size, self.resize_size = image_size, resize_size
    self.num_classes = num_classes
    self.use_randaug, self.use_mixup = use_randaug, use_mixup
    self._cache: Dict[tuple, np.ndarray] = {}

  def check_classes(self) -> int:
    found = len(folders.class_names(self.data_dir))
    if found != self.num_classes:
      raise ValueError(f'{folders.dataset_dir(self.data_dir)}/train has {found} classes, but the model of this '
                       f'scale has {self.num_classes}; choose the scale that matches the data (tools:make_datasets '
                       'builds the lite set with --source=fashion_mnist and the smoke set with --source=foolbox).')
    return found

  # Per-image work ------------------------------------------------------------------------------

  def train_example(self, path: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)  # A Generator: ten times cheaper to seed than a RandomState.
    image = transforms.train_image(transforms.load_rgb(path), self.image_size, rng)
    if self.use_randaug:
      image = randaugment.randaugment(image, rng, RANDAUGMENT_LAYERS, RANDAUGMENT_MAGNITUDE)
    return np.asarray(image, np.uint8)

  def eval_example(self, path: str) -> np.ndarray:
    return np.asarray(transforms.eval_image(transforms.load_rgb(path), self.image_size, self.resize_size),
                      np.uint8)

  # Train ---------------------------------------------------------------------------------------

  def train_batches(self, num_examples: int, batch_size: int, seed: int, start_step: int = 0) -> Iterator[Dict]:
    paths, labels = take(*folders.list_split(self.data_dir, 'train'), num_examples, 'train', self.data_dir)

    def load(batch: Dict[str, np.ndarray], rng: np.random.RandomState) -> Dict[str, np.ndarray]:
      seeds = rng.randint(0, 2**31 - 1, size=len(batch['index']))
      images = np.stack(_map(self.train_example, [paths[i] for i in batch['index']], seeds))
      inputs, targets = transforms.normalize(images), batch['targets']
      if self.use_mixup:
        inputs, targets = mixup(inputs, targets, self.num_classes, rng)
      return {'inputs': inputs, 'targets': targets}

    arrays = {'index': np.arange(len(paths)), 'targets': labels}
    return array_pipeline.train_batches(arrays, batch_size, seed, start_step=start_step, transform=load)

  # Eval ----------------------------------------------------------------------------------------

  def eval_files(self, split: str, num_examples: int):
    """eval_train: a fixed subset of the training images (eval preprocessing); validation; test (v2)."""
    if split == 'eval_train':
      return take(*folders.list_split(self.data_dir, 'train'), num_examples, split, self.data_dir)
    folder = {'validation': 'val', 'test': 'test'}[split]
    paths, labels = take(*folders.list_split(self.data_dir, folder), num_examples, split, self.data_dir)
    if len(labels) and labels.max() >= self.num_classes:
      raise ValueError(f'The {split} split under {self.data_dir} has class index {labels.max()}, but the model '
                       f'of this scale has {self.num_classes} classes.')
    return paths, labels

  def eval_batches(self, split: str, num_examples: int, batch_size: int) -> ReplayableIterator:
    """For 'test', `data_dir` may also be the ImageNet-v2 folder itself (--imagenet_v2_data_dir)."""
    paths, labels = self.eval_files(split, num_examples)
    size = len(paths) * self.image_size * self.image_size * 3
    key = (split, num_examples)

    def cached():
      if key not in self._cache:
        self._cache[key] = np.stack(_map(self.eval_example, paths))
      for batch in array_pipeline.eval_batches({'images': self._cache[key], 'targets': labels}, batch_size):
        inputs = transforms.normalize(batch['images'])
        inputs[batch['weights'] == 0] = 0.0  # Padding rows are zeros, as in the streamed path.
        yield {'inputs': inputs, 'targets': batch['targets'], 'weights': batch['weights']}

    def streamed():
      for start in range(0, len(paths), batch_size):
        images = np.stack(_map(self.eval_example, paths[start:start + batch_size]))
        chunk = {'inputs': transforms.normalize(images), 'targets': labels[start:start + batch_size]}
        yield next(array_pipeline.eval_batches(chunk, len(images), pad_to=batch_size))

    return ReplayableIterator(cached if size <= CACHE_LIMIT_BYTES else streamed)

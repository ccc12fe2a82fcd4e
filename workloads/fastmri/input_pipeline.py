"""fastMRI single-coil slices from the original .h5 volumes: masking, zero-filled reconstruction, normalisation.

As upstream (spec/harness.md §3.2): a random 1-D column mask keeps the central 8 % of k-space columns and
each other column with the probability that makes the mean acceleration 4; the masked k-space goes through
the centred orthonormal inverse FFT, is cropped to the target's size, and its magnitude is normalised by
its own mean and std (the target with the same numbers); both are clipped to +-6. Train masks are seeded
per example (fixed across epochs, as upstream's enumerate-before-repeat makes them); every eval example
uses the one fixed eval seed. Splits: `train` and `eval_train` from knee_singlecoil_train, `validation`
from the first volumes of the sorted knee_singlecoil_val, `test` from the rest.
"""
import os
from typing import Dict, List, Optional, Sequence, Tuple

import h5py
import numpy as np

from workloads.fastmri import h5_format

CENTER_FRACTION = 0.08
ACCELERATION = 4
CLIP = 6.0
EVAL_SEED = 0
# The fastMRI reference's guard; it only matters for a blank slice (std 0), where it avoids a NaN.
NORM_EPS = 1e-11
MAKE_DATASETS = 'bazel run //tools:make_datasets -- --dataset=fastmri --data_dir={data_dir}'


def dataset_dir(data_dir: str) -> str:
  """<data_dir>/fastmri as tools:make_datasets writes it, or data_dir itself in upstream's layout."""
  data_dir = os.path.expanduser(data_dir)
  if os.path.isdir(os.path.join(data_dir, h5_format.TRAIN_DIR)):
    return data_dir
  return os.path.join(data_dir, 'fastmri')


def split_dirs(data_dir: str) -> Dict[str, str]:
  """The train and val folders; raises FileNotFoundError naming the command that builds them."""
  root = dataset_dir(data_dir)
  dirs = {'train': os.path.join(root, h5_format.TRAIN_DIR), 'val': os.path.join(root, h5_format.VAL_DIR)}
  for directory in dirs.values():
    if not os.path.isdir(directory) or not h5_format.list_volumes(directory):
      raise FileNotFoundError(f'fastMRI volumes (*.h5) not found in {directory}; build the dataset with: '
                              + MAKE_DATASETS.format(data_dir=data_dir))
  return dirs


# Masks and reconstruction ----------------------------------------------------------------------------

def column_mask(num_cols: int, rs: np.random.RandomState, center_fraction: float = CENTER_FRACTION,
                acceleration: float = ACCELERATION) -> np.ndarray:
  """A 0/1 float32 mask over the k-space columns: the centre band plus random columns."""
  num_low = int(num_cols * center_fraction)
  mask = np.zeros(num_cols, np.float32)
  start = (num_cols - num_low + 1) // 2
  mask[start:start + num_low] = 1.0
  prob = (num_cols / acceleration - num_low) / (num_cols - num_low)
  return np.maximum(mask, (rs.uniform(size=num_cols) < prob).astype(np.float32))


def ifft2c(kspace: np.ndarray) -> np.ndarray:
  """Centred orthonormal inverse 2-D FFT over the last two axes."""
  axes = (-2, -1)
  return np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(kspace, axes=axes), axes=axes, norm='ortho'), axes=axes)


def center_crop(image: np.ndarray, shape: Sequence[int]) -> np.ndarray:
  top = (image.shape[-2] - shape[0]) // 2
  left = (image.shape[-1] - shape[1]) // 2
  return image[..., top:top + shape[0], left:left + shape[1]]


def process_slice(kspace: np.ndarray, target: np.ndarray, volume_max: float,
                  rs: np.random.RandomState) -> Dict[str, np.ndarray]:
  """One slice -> {'inputs', 'targets', 'mean', 'std', 'volume_max'} (float32)."""
  mask = column_mask(kspace.shape[-1], rs)
  image = np.abs(center_crop(ifft2c(kspace * mask[None, :]), target.shape))
  mean, std = image.mean(), image.std()
  scale = std + NORM_EPS
  return {
      'inputs': np.clip((image - mean) / scale, -CLIP, CLIP).astype(np.float32),
      'targets': np.clip((target - mean) / scale, -CLIP, CLIP).astype(np.float32),
      'mean': np.float32(mean),
      'std': np.float32(std),
      'volume_max': np.float32(volume_max),
  }


# Reading slices --------------------------------------------------------------------------------------

class SliceSource:
  """The slices of a list of volumes, addressed 0..n-1 in file order; read on demand from the .h5 files.

  Small splits (all of lite and smoke) are read into memory once; the released dataset (~65 GB of
  k-space) is read slice by slice.
  """
  PRELOAD_BYTES = 1 << 30

  def __init__(self, paths: List[str], num_slices: Optional[int] = None):
    self.paths = paths
    self.headers = [h5_format.read_header(p) for p in paths]
    index = [(v, s) for v, header in enumerate(self.headers) for s in range(header['num_slices'])]
    if num_slices is not None:
      if num_slices > len(index):
        raise ValueError(f'{os.path.dirname(paths[0])} holds {len(index)} slices in these volumes, but this '
                         f'scale needs {num_slices}; use the scale that matches the data (--scale=lite for the '
                         'files tools:make_datasets builds) or the released fastMRI files.')
      index = index[:num_slices]
    self.index = index
    size = sum(int(np.prod(h['kspace_shape'])) * 8 + int(np.prod(h['target_shape'])) * 4 for h in self.headers)
    self._cache = self._read_all() if size <= self.PRELOAD_BYTES else None

  def __len__(self) -> int:
    return len(self.index)

  @property
  def in_memory(self) -> bool:
    return self._cache is not None

  def _read_all(self) -> Dict[int, Tuple[np.ndarray, np.ndarray]]:
    volumes = {}
    for v, path in enumerate(self.paths):
      with h5py.File(path, 'r') as f:
        volumes[v] = (f[h5_format.KSPACE][()], f[h5_format.TARGET][()])
    return volumes

  def read(self, i: int) -> Tuple[np.ndarray, np.ndarray, float]:
    """(kspace, target, volume max) of slice i."""
    v, s = self.index[i]
    if self._cache is not None:
      kspace, target = self._cache[v][0][s], self._cache[v][1][s]
    else:
      with h5py.File(self.paths[v], 'r') as f:
        kspace, target = f[h5_format.KSPACE][s], f[h5_format.TARGET][s]
    return kspace, target, self.headers[v]['max']


def split_volumes(data_dir: str, split: str, num_validation_volumes: int) -> List[str]:
  """The volumes of one split: train files, or the first / remaining sorted val files."""
  dirs = split_dirs(data_dir)
  if split in ('train', 'eval_train'):
    return h5_format.list_volumes(dirs['train'])
  val = h5_format.list_volumes(dirs['val'])
  if len(val) <= num_validation_volumes:
    raise ValueError(f'{dirs["val"]} holds {len(val)} volumes, but this scale takes the first '
                     f'{num_validation_volumes} for validation and the rest for test; use the scale that matches '
                     'the data (--scale=lite for the files tools:make_datasets builds) or the released fastMRI '
                     'files.')
  return val[:num_validation_volumes] if split == 'validation' else val[num_validation_volumes:]


def example_rng(seed: int, index: int) -> np.random.RandomState:
  """The mask generator of one training example: a pure function of (data seed, example index)."""
  return np.random.RandomState(np.random.SeedSequence([seed % (2**32), index]).generate_state(1)[0])


class ProcessedSlices:
  """The processed slices of a source under one mask seed (None: the fixed eval mask), each kept after its
  first use when the source is held in memory.

  A slice's mask is a pure function of (seed, index), so it gives the same arrays in every epoch and every
  eval. Upstream recomputes them on parallel tf.data workers, off the step's path; here that work (masking,
  FFT, normalisation: ~1.7 ms of a ~30 ms lite step) was in the timed step each time. The released dataset
  is not held in memory, and neither are its processed slices.
  """

  def __init__(self, source: SliceSource, seed: Optional[int]):
    self.source, self.seed = source, seed
    self._kept: Optional[Dict[int, Dict[str, np.ndarray]]] = {} if source.in_memory else None

  def example(self, i: int) -> Dict[str, np.ndarray]:
    if self._kept is not None and i in self._kept:
      return self._kept[i]
    kspace, target, volume_max = self.source.read(i)
    rs = np.random.RandomState(EVAL_SEED) if self.seed is None else example_rng(self.seed, i)
    example = process_slice(kspace, target, volume_max, rs)
    if self._kept is not None:
      self._kept[i] = example
    return example

  def batch(self, rows: Sequence[int]) -> Dict[str, np.ndarray]:
    """The slices of `rows` stacked (new arrays: a consumer may change them in place)."""
    examples = [self.example(int(i)) for i in rows]
    return {key: np.stack([e[key] for e in examples]) for key in examples[0]}

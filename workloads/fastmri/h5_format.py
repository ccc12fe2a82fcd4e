"""The fastMRI single-coil volume file: one MR volume per .h5 file, as the fastMRI release ships it.

Datasets `kspace` (slices, rows, cols) complex64 and `reconstruction_esc` (slices, h, w) float32, the
magnitude image of each fully sampled slice cropped to h x w; attributes `max` and `norm` (the maximum and
L2 norm of the volume's reconstruction) and `acquisition`. The released knee files have 640 x 368-ish
k-space and 320 x 320 targets; any size with rows >= h and cols >= w reads the same way.
tools/datasets/fastmri.py writes such files.
"""
import os
from typing import Dict, List

import h5py

TRAIN_DIR = 'knee_singlecoil_train'
VAL_DIR = 'knee_singlecoil_val'
KSPACE = 'kspace'
TARGET = 'reconstruction_esc'


def list_volumes(directory: str) -> List[str]:
  """The .h5 files of a split folder, sorted (upstream's validation/test split depends on the order)."""
  return sorted(os.path.join(directory, name) for name in os.listdir(directory) if name.endswith('.h5'))


def read_header(path: str) -> Dict:
  """Shapes and attributes of one volume, without reading the arrays."""
  with h5py.File(path, 'r') as f:
    missing = [key for key in (KSPACE, TARGET) if key not in f]
    if missing:
      raise ValueError(f'{path} is not a fastMRI single-coil file: it lacks {", ".join(missing)}.')
    kspace_shape, target_shape = f[KSPACE].shape, f[TARGET].shape
    volume_max = float(f.attrs.get('max', 0.0))
  if len(kspace_shape) != 3 or len(target_shape) != 3 or kspace_shape[0] != target_shape[0]:
    raise ValueError(f'{path}: kspace {kspace_shape} and {TARGET} {target_shape} must be (slices, H, W) with '
                     'the same number of slices.')
  if kspace_shape[1] < target_shape[1] or kspace_shape[2] < target_shape[2]:
    raise ValueError(f'{path}: the target {target_shape[1:]} is larger than the k-space {kspace_shape[1:]}.')
  return {'num_slices': kspace_shape[0], 'kspace_shape': kspace_shape[1:], 'target_shape': target_shape[1:],
          'max': volume_max}

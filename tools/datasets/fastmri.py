"""fastMRI-format single-coil volumes made from real MR slices in registry packages.

No raw k-space ships in any registry, and the fastMRI single-coil data is itself emulated from magnitude
images, so we emulate it the same way: each real magnitude slice (brain, not knee) is resized to the target
size, given a smooth phase (real scans are complex, and a real-valued image would make its k-space
conjugate-symmetric, so that undersampling would lose less than it does on a scanner), centred in a wider
field of view (the released files oversample the readout 2x) and Fourier transformed (orthonormal, centred,
as the pipeline's inverse). `reconstruction_esc` is the centre crop of the magnitude of the inverse, as in
the release. The geometry is the release's at a quarter of the size: k-space 160 x 92, targets 80 x 80.

Sources: PyPI dipy 1.12.1 (`S0_10slices`, `aniso_vox`, `test_piesno` NIfTI volumes and `t1_coronal_slice`),
PyPI nibabel 5.4.2 (`example4d` both frames, `anatomical`), and matplotlib's `s1045.ima.gz` from the
installed matplotlib (a pinned requirement). Volumes go whole into one split, so no anatomy is in two:
train holds 6 volumes (89 slices); val holds `dipy_S0_10slices` (10 slices; upstream's "first volumes":
validation) and `dipy_aniso_vox` (24; the rest: test), two b0 brain volumes of like contrast.
"""
import gzip
import hashlib
import io
import json
import os
import struct
from typing import Dict, Iterator, List, Tuple

import h5py
import numpy as np
from PIL import Image

from tools.datasets import sources

DIPY = sources.Package(
    'pypi', 'dipy', '1.12.1',
    'dipy-1.12.1-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl',
    '65013b80f6e61c4c52de7b61da6e36afa76b09ccfe8c456414519b36609d7bb6', 'BSD-3-Clause')
NIBABEL = sources.Package('pypi', 'nibabel', '5.4.2', 'nibabel-5.4.2-py3-none-any.whl',
                          '553482c5f1e1034fc312edf6fb7f32236c0056439845d1c29293b7e8c98d4854', 'MIT')
# Read from the installed matplotlib (requirements_lock.txt pins it); the file is checked by its sha256.
MATPLOTLIB_S1045 = sources.Package('pypi', 'matplotlib', 'installed', 'mpl-data/sample_data/s1045.ima.gz',
                                   '32b424d64f62b7e71cb24d29fd53938ad5664d608055a67ab2b2af4369f8b89e',
                                   'matplotlib license (PSF-style)')

TARGET_SIZE = 80
KSPACE_SHAPE = (160, 92)  # The release's 640 x 368 around a 320 x 320 target, at a quarter of the size.
VOLUME_MAX = 5e-4  # fastMRI knee reconstructions peak around 1e-4 to 1e-3.
# Slices with less anatomy than this (fraction of pixels above 10 % of the bright end) are dropped.
MIN_FOREGROUND = 0.05

# (file stem, split, package, member, frame): one volume each; frame picks a 4-D volume's time point.
VOLUMES = (
    ('dipy_S0_10slices', 'val', 'dipy', 'dipy/data/files/S0_10slices.nii.gz', 0),
    ('dipy_aniso_vox', 'val', 'dipy', 'dipy/data/files/aniso_vox.nii.gz', 0),
    ('dipy_test_piesno', 'train', 'dipy', 'dipy/data/files/test_piesno.nii.gz', 0),
    ('dipy_t1_coronal_slice', 'train', 'dipy', 'dipy/data/files/t1_coronal_slice.npy', 0),
    ('nibabel_anatomical', 'train', 'nibabel', 'nibabel/tests/data/anatomical.nii', 0),
    ('nibabel_example4d_t0', 'train', 'nibabel', 'nibabel/tests/data/example4d.nii.gz', 0),
    ('nibabel_example4d_t1', 'train', 'nibabel', 'nibabel/tests/data/example4d.nii.gz', 1),
    ('matplotlib_s1045', 'train', 'matplotlib', 's1045.ima.gz', 0),
)
# The release's folder names and keys (workloads/fastmri/h5_format.py reads them; this module stays free of
# workloads/fastmri so that //tools:make_datasets needs no dependency on it).
SPLIT_DIRS = {'train': 'knee_singlecoil_train', 'val': 'knee_singlecoil_val'}
KSPACE_KEY = 'kspace'
TARGET_KEY = 'reconstruction_esc'

_NIFTI_TYPES = {2: 'u1', 4: 'i2', 8: 'i4', 16: 'f4', 64: 'f8', 256: 'i1', 512: 'u2', 768: 'u4'}


def read_nifti(raw: bytes) -> np.ndarray:
  """A NIfTI-1 image (optionally gzipped) as float64 in (x, y, z, ...) order, scaled by scl_slope/inter."""
  if raw[:2] == b'\x1f\x8b':
    raw = gzip.decompress(raw)
  endian = '<' if struct.unpack('<i', raw[:4])[0] == 348 else '>'
  if struct.unpack(endian + 'i', raw[:4])[0] != 348:
    raise ValueError('not a NIfTI-1 file (sizeof_hdr is not 348)')
  dims = struct.unpack(endian + '8h', raw[40:56])
  code = struct.unpack(endian + 'h', raw[70:72])[0]
  if code not in _NIFTI_TYPES:
    raise ValueError(f'unsupported NIfTI datatype {code}')
  dtype = np.dtype(endian + _NIFTI_TYPES[code])
  offset = int(struct.unpack(endian + 'f', raw[108:112])[0])
  slope, intercept = struct.unpack(endian + '2f', raw[112:120])
  shape = tuple(dims[1:1 + dims[0]])
  data = np.frombuffer(raw, dtype, int(np.prod(shape)), offset).reshape(shape, order='F').astype(np.float64)
  if slope not in (0.0, 1.0) or intercept != 0.0:
    data = data * (slope or 1.0) + intercept
  return data


def _matplotlib_s1045() -> bytes:
  import matplotlib  # pylint: disable=import-outside-toplevel
  path = os.path.join(os.path.dirname(matplotlib.__file__), MATPLOTLIB_S1045.filename)
  with open(path, 'rb') as f:
    raw = f.read()
  actual = hashlib.sha256(raw).hexdigest()
  if actual != MATPLOTLIB_S1045.sha256:
    raise RuntimeError(f'{path} has sha256 {actual}, expected {MATPLOTLIB_S1045.sha256}; reinstall matplotlib.')
  return raw


def _slices(package: str, member: str, frame: int, wheels: Dict[str, str]) -> np.ndarray:
  """A real volume as (slices, H, W) magnitudes, anatomy upright."""
  if package == 'matplotlib':
    volume = np.frombuffer(gzip.decompress(_matplotlib_s1045()), np.uint16).reshape(1, 256, 256)
    return volume.astype(np.float64)
  raw = sources.read_member(wheels[package], member)
  if member.endswith('.npy'):
    return np.load(io.BytesIO(raw)).astype(np.float64)[None]
  data = read_nifti(raw)
  data = data.reshape(data.shape[:3] + (-1,))[..., frame]
  return np.stack([np.rot90(data[:, :, z]) for z in range(data.shape[2])])


def _resize(image: np.ndarray, size: int) -> np.ndarray:
  """Zero-pads to a square and resamples (bicubic, antialiased) to size x size, clipped to >= 0."""
  h, w = image.shape
  side = max(h, w)
  square = np.zeros((side, side), np.float32)
  square[(side - h) // 2:(side - h) // 2 + h, (side - w) // 2:(side - w) // 2 + w] = image
  resized = np.asarray(Image.fromarray(square).resize((size, size), Image.BICUBIC))
  return np.clip(resized, 0.0, None)


def _smooth_phase(rs: np.random.RandomState, shape: Tuple[int, int]) -> np.ndarray:
  """A slowly varying phase map (a random quadratic surface), like the B0/coil phase of a real scan."""
  y, x = np.meshgrid(np.linspace(-1, 1, shape[0]), np.linspace(-1, 1, shape[1]), indexing='ij')
  c = rs.uniform(-1.0, 1.0, size=6) * np.array([np.pi, 1.0, 1.0, 0.5, 0.5, 0.5])
  return c[0] + c[1] * x + c[2] * y + c[3] * x * x + c[4] * y * y + c[5] * x * y


def fft2c(image: np.ndarray) -> np.ndarray:
  """Centred orthonormal 2-D FFT over the last two axes (the inverse of the pipeline's ifft2c)."""
  axes = (-2, -1)
  return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(image, axes=axes), axes=axes, norm='ortho'), axes=axes)


def ifft2c(kspace: np.ndarray) -> np.ndarray:
  axes = (-2, -1)
  return np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(kspace, axes=axes), axes=axes, norm='ortho'), axes=axes)


def center_crop(image: np.ndarray, shape: Tuple[int, int]) -> np.ndarray:
  top = (image.shape[-2] - shape[0]) // 2
  left = (image.shape[-1] - shape[1]) // 2
  return image[..., top:top + shape[0], left:left + shape[1]]


def simulate_volume(magnitudes: np.ndarray, seed: int, target_size: int = TARGET_SIZE,
                    kspace_shape: Tuple[int, int] = KSPACE_SHAPE) -> Tuple[np.ndarray, np.ndarray]:
  """Real magnitude slices -> (single-coil k-space, reconstruction_esc), with the release's geometry."""
  rs = np.random.RandomState(seed)
  images = np.stack([_resize(m, target_size) for m in magnitudes]).astype(np.float64)
  images *= VOLUME_MAX / images.max()
  canvas = np.zeros((len(images),) + tuple(kspace_shape), np.complex128)
  top, left = (kspace_shape[0] - target_size) // 2, (kspace_shape[1] - target_size) // 2
  for i, image in enumerate(images):
    phase = _smooth_phase(rs, image.shape)
    canvas[i, top:top + target_size, left:left + target_size] = image * np.exp(1j * phase)
  kspace = fft2c(canvas).astype(np.complex64)
  target = np.abs(center_crop(ifft2c(kspace.astype(np.complex128)), (target_size, target_size)))
  return kspace, target.astype(np.float32)


def _keep(magnitudes: np.ndarray) -> np.ndarray:
  """Drops the nearly empty end slices of a volume (no anatomy to reconstruct)."""
  threshold = 0.1 * np.percentile(magnitudes, 99.5)  # A percentile: a few hot pixels set no threshold.
  foreground = (magnitudes > threshold).reshape(len(magnitudes), -1).mean(axis=1)
  return magnitudes[foreground >= MIN_FOREGROUND]


def volumes(cache_dir: str) -> Iterator[Tuple[str, str, np.ndarray, np.ndarray]]:
  """(file stem, split, kspace, target) for every volume, in VOLUMES order."""
  wheels = {'dipy': sources.fetch(DIPY, cache_dir), 'nibabel': sources.fetch(NIBABEL, cache_dir)}
  for seed, (stem, split, package, member, frame) in enumerate(VOLUMES):
    magnitudes = _keep(_slices(package, member, frame, wheels))
    kspace, target = simulate_volume(magnitudes, seed)
    yield stem, split, kspace, target


def write_volume(path: str, kspace: np.ndarray, target: np.ndarray, acquisition: str) -> None:
  """One volume with the attributes the fastMRI files carry (max and L2 norm of the targets)."""
  target = np.asarray(target, np.float32)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with h5py.File(path, 'w') as f:
    f.create_dataset(KSPACE_KEY, data=np.asarray(kspace, np.complex64))
    f.create_dataset(TARGET_KEY, data=target)
    f.attrs['max'] = np.float64(target.max())
    f.attrs['norm'] = np.float64(np.linalg.norm(target.astype(np.float64)))
    f.attrs['acquisition'] = acquisition


def output_files() -> List[str]:
  """Every file `build` writes, relative to <data_dir>/fastmri (the genrule fixtures list them)."""
  return [f'{SPLIT_DIRS[split]}/{stem}.h5' for stem, split, *_ in VOLUMES] + ['provenance.json']


def build(data_dir: str, source: str = 'all') -> str:
  """Writes <data_dir>/fastmri/{knee_singlecoil_train,knee_singlecoil_val}/*.h5 and provenance.json."""
  if source != 'all':
    raise ValueError(f'Unknown fastMRI source {source!r}; use all.')
  out_dir = os.path.join(data_dir, 'fastmri')
  counts = {}
  for stem, split, kspace, target in volumes(sources.download_cache(data_dir)):
    path = os.path.join(out_dir, SPLIT_DIRS[split], stem + '.h5')
    write_volume(path, kspace, target, acquisition=f'real MR magnitude slices ({stem}), emulated single-coil '
                 'k-space')
    counts[stem] = len(target)
  notes = (f'fastMRI single-coil layout from real MR slices (brain): k-space {KSPACE_SHAPE[0]}x{KSPACE_SHAPE[1]} '
           f'complex64, reconstruction_esc {TARGET_SIZE}x{TARGET_SIZE}; slices per volume {counts}. Each slice '
           'resized (bicubic), given a smooth random phase and Fourier transformed; see tools/datasets/fastmri.py.')
  _write_provenance(out_dir, notes)
  return out_dir


def _write_provenance(out_dir: str, notes: str) -> None:
  """sources.write_provenance, plus the checksums of the .h5 files in the split folders (it lists only
  the top folder's files)."""
  path = sources.write_provenance(out_dir, 'fastmri', [DIPY, NIBABEL, MATPLOTLIB_S1045], notes)
  with open(path) as f:
    record = json.load(f)
  for name in output_files()[:-1]:
    record['files'][name] = sources.sha256_file(os.path.join(out_dir, name))
  with open(path, 'w') as f:
    json.dump(record, f, indent=2, sort_keys=True)
    f.write('\n')


def is_built(data_dir: str) -> bool:
  return os.path.exists(os.path.join(data_dir, 'fastmri', 'provenance.json'))

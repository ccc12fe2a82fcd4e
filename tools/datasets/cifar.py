"""CIFAR-10 in its original python-pickle layout (`cifar-10-batches-py/`), from real images in registry packages.

No registry ships the CIFAR-10 archive, so the builder writes the original files itself:
`data_batch_1..5` and `test_batch` (pickled dicts with `data`, uint8 N x 3072 in R, G, B planes of 32 x 32
row-major pixels; `labels`; `filenames`; `batch_label`) and `batches.meta` (`label_names`,
`num_cases_per_batch`, `num_vis`), with bytes keys and pickle protocol 2, as the original python-2 files.

Sources (--source):
- `fashion_mnist` (default): the 70,000 real Fashion-MNIST images of Debian's `dataset-fashion-mnist`, the
  largest real 10-class image set the registries hold. Each 28 x 28 grey image is zero-padded to 32 x 32 and
  repeated over R, G and B; its 60,000 train images fill data_batch_1..5 (12,000 each) and its 10,000 test
  images fill test_batch. It serves the lite scale (and the full scale's shapes).
- `foolbox`: the 20 real CIFAR-10 images in PyPI `foolbox` 3.3.4 (the first 20 images of the CIFAR-10 test
  set, with their labels); 16 fill data_batch_1..5 and 4 fill test_batch. Unit-test fixture (smoke scale).
"""
import hashlib
import io
import os
import pickle
import subprocess
import tarfile
import tempfile
import zipfile
from typing import Dict, List, Sequence, Tuple

import numpy as np

from tools.datasets import sources
from workloads.common import idx

FOLDER = 'cifar-10-batches-py'
CIFAR10_LABEL_NAMES = ('airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck')
FASHION_MNIST_LABEL_NAMES = ('t-shirt/top', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker',
                             'bag', 'ankle boot')
NUM_TRAIN_BATCHES = 5

FOOLBOX = sources.Package('pypi', 'foolbox', '3.3.4', 'foolbox-3.3.4-py3-none-any.whl',
                          '11049d515d38e765e206a73ace9cc648b81a0d6d1da9ad9057e149ee117989cb',
                          'MIT (package); images from the CIFAR-10 test set')


# Debian packages -----------------------------------------------------------------------------------------------
# sources.py fetches PyPI and npm files; this is the same for a Debian .deb, fetched with the ordinary apt client.

FASHION_MNIST_DEB = sources.Package(
    'debian', 'dataset-fashion-mnist', '0.0~git20200523.55506a9-1',
    'dataset-fashion-mnist_0.0~git20200523.55506a9-1_all.deb',
    '39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0', 'Expat (MIT); Zalando Fashion-MNIST')
FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist'
FASHION_MNIST_FILES = {
    'train-images-idx3-ubyte.gz': 'b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7',
    'train-labels-idx1-ubyte.gz': '0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056',
    't10k-images-idx3-ubyte.gz': 'cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa',
    't10k-labels-idx1-ubyte.gz': '8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05',
}


def fetch_deb(package: sources.Package, cache_dir: str) -> str:
  """The .deb in `cache_dir`, downloaded with `apt-get download` if missing; fails if the bytes differ."""
  os.makedirs(cache_dir, exist_ok=True)
  path = os.path.join(cache_dir, package.filename)
  if not os.path.exists(path):
    try:
      subprocess.run(['apt-get', 'download', '-q', f'{package.name}={package.version}'], cwd=cache_dir, check=True,
                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except (OSError, subprocess.CalledProcessError) as e:
      detail = (getattr(e, 'stderr', b'') or b'').decode(errors='replace').strip()[-300:]
      raise RuntimeError(f'Could not download Debian package {package.name}={package.version} ({e}; {detail}). '
                         f'Run `apt-get update` first, or `apt-get install {package.name}`.') from e
  actual = sources.sha256_file(path)
  if actual != package.sha256:
    raise RuntimeError(f'{path} has sha256 {actual}, expected {package.sha256}; delete it and rerun.')
  return path


def read_deb_member(deb_path: str, member: str) -> bytes:
  """One file out of a .deb: an `ar` archive whose data.tar.{xz,gz,bz2} holds the installed tree."""
  with open(deb_path, 'rb') as f:
    blob = f.read()
  if not blob.startswith(b'!<arch>\n'):
    raise ValueError(f'{deb_path} is not a Debian package (no ar header).')
  offset = 8
  while offset + 60 <= len(blob):
    header = blob[offset:offset + 60]
    name = header[:16].decode().strip().rstrip('/')
    size = int(header[48:58].decode().strip())
    body = blob[offset + 60:offset + 60 + size]
    offset += 60 + size + (size % 2)
    if name.startswith('data.tar'):
      with tarfile.open(fileobj=io.BytesIO(body), mode='r:*') as tar:
        for candidate in (member, './' + member.lstrip('/'), member.lstrip('/')):
          try:
            extracted = tar.extractfile(candidate)
          except KeyError:
            continue
          if extracted is not None:
            return extracted.read()
      raise KeyError(f'{member} is not in {deb_path}')
  raise ValueError(f'{deb_path} has no data.tar member.')


def _fashion_mnist_file(name: str, cache_dir: str) -> bytes:
  """A Fashion-MNIST file: from the installed Debian package when its bytes match the pin, else from the .deb."""
  installed = os.path.join(FASHION_MNIST_DIR, name)
  if os.path.exists(installed) and sources.sha256_file(installed) == FASHION_MNIST_FILES[name]:
    with open(installed, 'rb') as f:
      return f.read()
  data = read_deb_member(fetch_deb(FASHION_MNIST_DEB, cache_dir), os.path.join(FASHION_MNIST_DIR, name))
  if hashlib.sha256(data).hexdigest() != FASHION_MNIST_FILES[name]:
    raise RuntimeError(f'{name} in {FASHION_MNIST_DEB.filename} does not have the pinned sha256.')
  return data


def _read_idx_bytes(data: bytes) -> np.ndarray:
  # workloads.common.idx reads paths; a temporary file keeps one IDX reader in the project.
  with tempfile.NamedTemporaryFile(suffix='.gz') as tmp:
    tmp.write(data)
    tmp.flush()
    return idx.read_idx(tmp.name)


def grey28_to_cifar_rows(images: np.ndarray) -> np.ndarray:
  """uint8 (N, 28, 28) -> CIFAR rows (N, 3072): zero-padded to 32 x 32, the same plane for R, G and B."""
  padded = np.pad(images, ((0, 0), (2, 2), (2, 2)))
  return np.repeat(padded.reshape(len(images), 1, 1024), 3, axis=1).reshape(len(images), 3072)


def rgb_to_cifar_rows(images: np.ndarray) -> np.ndarray:
  """uint8 (N, 32, 32, 3) -> CIFAR rows (N, 3072): the R plane, then G, then B."""
  return np.ascontiguousarray(images.transpose(0, 3, 1, 2)).reshape(len(images), 3072)


def _fashion_mnist(cache_dir: str) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
  split = {}
  for which in ('train', 't10k'):
    images = _read_idx_bytes(_fashion_mnist_file(f'{which}-images-idx3-ubyte.gz', cache_dir))
    labels = _read_idx_bytes(_fashion_mnist_file(f'{which}-labels-idx1-ubyte.gz', cache_dir))
    split[which] = (grey28_to_cifar_rows(images), labels.astype(np.int64))
  return split


def _foolbox_cifar(cache_dir: str) -> Tuple[np.ndarray, np.ndarray, List[str]]:
  """The 20 labelled CIFAR-10 PNGs of foolbox, in file order (`cifar10_<index>_<label>.png`)."""
  from PIL import Image  # pylint: disable=import-outside-toplevel
  path = sources.fetch(FOOLBOX, cache_dir)
  with zipfile.ZipFile(path) as z:
    names = sorted(n for n in z.namelist() if os.path.basename(n).startswith('cifar10_') and n.endswith('.png'))
    images = [np.asarray(Image.open(io.BytesIO(z.read(n))).convert('RGB'), dtype=np.uint8) for n in names]
  labels = [int(os.path.basename(n)[:-4].split('_')[2]) for n in names]
  return rgb_to_cifar_rows(np.stack(images)), np.asarray(labels, np.int64), [os.path.basename(n) for n in names]


# Writing the original files ------------------------------------------------------------------------------------

def write_batch(path: str, rows: np.ndarray, labels: Sequence[int], filenames: Sequence[str], batch_label: str):
  """One batch file, as the original: bytes keys, uint8 data, int labels, protocol 2."""
  if rows.dtype != np.uint8 or rows.ndim != 2 or rows.shape[1] != 3072 or len(rows) != len(labels):
    raise ValueError(f'A CIFAR batch needs uint8 rows of 3072 values and one label each, got {rows.shape}.')
  record = {
      b'batch_label': batch_label.encode(),
      b'labels': [int(label) for label in labels],
      b'data': np.ascontiguousarray(rows),
      b'filenames': [name.encode() for name in filenames],
  }
  with open(path, 'wb') as f:
    pickle.dump(record, f, protocol=2)


def write_meta(path: str, label_names: Sequence[str], num_cases_per_batch: int) -> None:
  record = {b'num_cases_per_batch': int(num_cases_per_batch), b'label_names': [n.encode() for n in label_names],
            b'num_vis': 3072}
  with open(path, 'wb') as f:
    pickle.dump(record, f, protocol=2)


def write_dataset(out_dir: str, train: Tuple[np.ndarray, np.ndarray, List[str]],
                  test: Tuple[np.ndarray, np.ndarray, List[str]], label_names: Sequence[str]) -> None:
  """data_batch_1..5 (the train rows in order, split as evenly as possible), test_batch and batches.meta."""
  os.makedirs(out_dir, exist_ok=True)
  rows, labels, names = train
  bounds = np.linspace(0, len(rows), NUM_TRAIN_BATCHES + 1).round().astype(int)
  for i in range(NUM_TRAIN_BATCHES):
    lo, hi = bounds[i], bounds[i + 1]
    write_batch(os.path.join(out_dir, f'data_batch_{i + 1}'), rows[lo:hi], labels[lo:hi], names[lo:hi],
                f'training batch {i + 1} of {NUM_TRAIN_BATCHES}')
  write_batch(os.path.join(out_dir, 'test_batch'), *test, 'testing batch 1 of 1')
  write_meta(os.path.join(out_dir, 'batches.meta'), label_names, int(bounds[1] - bounds[0]))


def build(data_dir: str, source: str = 'fashion_mnist') -> str:
  """Writes <data_dir>/cifar/cifar-10-batches-py/ and <data_dir>/cifar/provenance.json."""
  if source not in ('fashion_mnist', 'foolbox'):
    raise ValueError(f'Unknown CIFAR source {source!r}; use fashion_mnist or foolbox.')
  out_dir = os.path.join(data_dir, 'cifar')
  cache_dir = sources.download_cache(data_dir)
  if source == 'foolbox':
    rows, labels, names = _foolbox_cifar(cache_dir)
    train = (rows[:16], labels[:16], names[:16])
    test = (rows[16:], labels[16:], names[16:])
    write_dataset(os.path.join(out_dir, FOLDER), train, test, CIFAR10_LABEL_NAMES)
    packages = [FOOLBOX]
    notes = ('The 20 real CIFAR-10 images of foolbox (the first 20 of the CIFAR-10 test set, labels from the file '
             'names): 16 in data_batch_1..5, 4 in test_batch.')
  else:
    split = _fashion_mnist(cache_dir)
    train_names = [f'fashion_mnist_train_{i:05d}.png' for i in range(len(split['train'][1]))]
    test_names = [f'fashion_mnist_t10k_{i:05d}.png' for i in range(len(split['t10k'][1]))]
    write_dataset(os.path.join(out_dir, FOLDER), split['train'] + (train_names,), split['t10k'] + (test_names,),
                  FASHION_MNIST_LABEL_NAMES)
    packages = [FASHION_MNIST_DEB]
    notes = ('Fashion-MNIST (Debian dataset-fashion-mnist) in the CIFAR-10 python layout: each 28x28 grey image '
             'zero-padded to 32x32 and repeated over R, G, B; its 60,000 train images in order in '
             'data_batch_1..5 (12,000 each), its 10,000 test images in test_batch; label_names are '
             'Fashion-MNIST\'s. Not CIFAR pictures: the registries hold only 20 real CIFAR-10 images '
             '(--source=foolbox).')
  # Provenance sits beside the pickles folder; it lists the pickles' checksums too.
  sources.write_provenance(os.path.join(out_dir, FOLDER), 'cifar', packages, notes + f' source={source}.')
  os.replace(os.path.join(out_dir, FOLDER, 'provenance.json'), os.path.join(out_dir, 'provenance.json'))
  return out_dir


def is_built(data_dir: str) -> bool:
  return os.path.exists(os.path.join(data_dir, 'cifar', 'provenance.json'))

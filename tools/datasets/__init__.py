"""Dataset builders: one module per dataset, tools/datasets/<dataset>.py, with `build` and `is_built`.

`build(name, data_dir)` makes <data_dir>/<name>/ in the dataset's original format unless it exists.
"""
import importlib
import os
import pkgutil

from algoperf.paths import resolve_user_path

_NOT_DATASETS = {'sources'}


def available() -> list:
  return sorted(m.name for m in pkgutil.iter_modules(__path__)
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

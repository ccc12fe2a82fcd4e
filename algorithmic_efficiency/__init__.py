"""`algorithmic_efficiency`, the v0.5 package name, as an alias of `algoperf`.

Submissions written for v0.5 import `from algorithmic_efficiency import spec`; those modules are the
same objects as `algoperf.spec`, so both spellings share one set of classes and enums.
"""
import importlib
import sys

import algoperf

_MODULES = ('spec', 'random_utils', 'param_utils', 'data_utils', 'halton', 'logger_utils', 'checkpoint_utils')
_OPTIONAL = ('pytorch_utils', 'jax_sharding_utils')

for _name in _MODULES:
  sys.modules[f'{__name__}.{_name}'] = importlib.import_module(f'algoperf.{_name}')
  globals()[_name] = sys.modules[f'{__name__}.{_name}']


def __getattr__(name):
  # Framework-specific modules import torch or jax: load them only when asked for.
  if name in _OPTIONAL:
    module = importlib.import_module(f'algoperf.{name}')
    sys.modules[f'{__name__}.{name}'] = module
    return module
  raise AttributeError(name)


class _OptionalFinder:
  """Makes `import algorithmic_efficiency.pytorch_utils` resolve to algoperf's module on demand."""

  @staticmethod
  def find_spec(fullname, path=None, target=None):
    del path, target
    prefix = __name__ + '.'
    if fullname.startswith(prefix) and fullname[len(prefix):] in _OPTIONAL:
      return importlib.util.spec_from_loader(fullname, _AliasLoader(fullname[len(prefix):]))
    return None


class _AliasLoader:

  def __init__(self, name):
    self._name = name

  def create_module(self, spec):
    del spec
    return importlib.import_module(f'algoperf.{self._name}')

  def exec_module(self, module):
    del module


import importlib.util  # pylint: disable=wrong-import-position
sys.meta_path.append(_OptionalFinder())

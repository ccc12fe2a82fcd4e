"""Loading a submission module from any file path and checking it implements the API.

Files written for upstream's v0.5 run unchanged: before a file that uses JAX is imported, the JAX names
that v0.5-era files call and the pinned jax removed (`jax.tree_map` and its siblings) are put back by
`algoperf.jax_compat` (a documented compatibility shim), and `algorithmic_efficiency` resolves to
`algoperf` (the alias package). `jax_layout` tells which JAX layout a file was written for. A
`requirements.txt` beside the file is installed into a cached overlay first (requirements_overlay.py).
"""
import importlib.util
import inspect
import os
import re
import sys
from types import ModuleType

from algoperf import requirements_overlay

REQUIRED = ('get_batch_size', 'init_optimizer_state', 'update_params', 'data_selection')
OPTIONAL = ('prepare_for_eval', 'get_eval_batch_size')


class SubmissionError(ValueError):
  """A submission file that cannot run; the message names the problem and the fix."""


def load_submission(path: str) -> ModuleType:
  """Imports the file as a module (its folder goes on sys.path, for sibling imports)."""
  path = os.path.abspath(os.path.expanduser(path))
  if not os.path.isfile(path):
    raise SubmissionError(f'Submission file {path} does not exist; pass --submission_path=PATH/TO/submission.py.')
  name = '_submission_' + os.path.splitext(os.path.basename(path))[0] + f'_{abs(hash(path)) % 10**8}'
  folder = os.path.dirname(path)
  if folder not in sys.path:
    sys.path.insert(0, folder)
  with open(path, encoding='utf-8') as f:
    source = f.read()
  requirements_overlay.activate(path)  # A requirements.txt beside the file: its cached overlay.
  if _JAX_IMPORT.search(source):
    from algoperf import jax_compat  # pylint: disable=import-outside-toplevel
    jax_compat.install()
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  sys.modules[name] = module
  spec.loader.exec_module(module)
  check_submission(module, path)
  return module


_JAX_IMPORT = re.compile(r'^\s*(from|import)\s+(jax|flax|optax|chex)\b', re.MULTILINE)
_V05_PACKAGE_IMPORT = re.compile(r'^\s*(from|import)\s+algorithmic_efficiency\b', re.MULTILINE)


def written_for_v05(path: str) -> bool:
  """Whether the file imports `algorithmic_efficiency`, the package name of upstream's v0.5 (v0.6: algoperf)."""
  with open(os.path.abspath(os.path.expanduser(path)), encoding='utf-8') as f:
    return bool(_V05_PACKAGE_IMPORT.search(f.read()))


def jax_layout(path: str, rules_version: str, requested: str = 'auto') -> str:
  """The JAX layout to run a submission file in: 'pmap' or 'jit' (workloads/common/jax_workload.py).

  `auto`: the pmap layout under the v0.5 rules for a file written for upstream's v0.5 runner (it imports
  `algorithmic_efficiency`), as that runner's JAX workloads were pmapped; the jit layout otherwise, so
  v0.6-format files (the project's own submissions among them) also run under the v0.5 rules profile.
  `pmap` or `jit` force the layout (a v0.5-era file that imports only `algoperf`).
  """
  if requested in ('pmap', 'jit'):
    return requested
  if requested != 'auto':
    raise ValueError(f'Unknown JAX layout {requested!r}; use auto, pmap or jit.')
  return 'pmap' if rules_version == 'v0.5' and written_for_v05(path) else 'jit'


def check_submission(module: ModuleType, path: str) -> None:
  missing = [fn for fn in REQUIRED if not callable(getattr(module, fn, None))]
  if missing:
    raise SubmissionError(f'Submission {path} does not define {", ".join(missing)}; every submission must '
                          f'implement {", ".join(REQUIRED)} (and may implement prepare_for_eval).')


def takes_train_state(update_params) -> bool:
  return 'train_state' in inspect.signature(update_params).parameters

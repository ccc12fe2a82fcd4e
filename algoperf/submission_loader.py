"""Loading a submission module from any file path and checking it implements the API."""
import importlib.util
import inspect
import os
import sys
from types import ModuleType

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
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  sys.modules[name] = module
  spec.loader.exec_module(module)
  check_submission(module, path)
  return module


def check_submission(module: ModuleType, path: str) -> None:
  missing = [fn for fn in REQUIRED if not callable(getattr(module, fn, None))]
  if missing:
    raise SubmissionError(f'Submission {path} does not define {", ".join(missing)}; every submission must '
                          f'implement {", ".join(REQUIRED)} (and may implement prepare_for_eval).')


def takes_train_state(update_params) -> bool:
  return 'train_state' in inspect.signature(update_params).parameters

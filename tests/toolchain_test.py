"""The py_* targets run inside the hermetic environment built from requirements_lock.txt."""
import os
import sys
from importlib import metadata

_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')


def _pins():
  pins = {}
  with open(os.path.join(_ROOT, 'requirements_lock.txt')) as f:
    for line in f:
      line = line.split('#')[0].strip()
      if '==' in line:
        name, version = line.split('==')
        pins[name] = version
  return pins


def test_interpreter_is_the_project_venv():
  assert 'py_venv' in sys.executable
  assert sys.prefix != sys.base_prefix


def test_installed_versions_match_the_lock():
  pins = _pins()
  assert 'torch' in pins and 'jax' in pins
  for name, version in pins.items():
    assert metadata.version(name).split('+')[0] == version, name

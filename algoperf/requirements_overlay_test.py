"""A submission's requirements.txt: installed once into an overlay keyed by its hash, on the path of the
submission, and one clear sentence when a requirement cannot be installed. No network: the package is a
wheel built here, and pip is told not to use an index."""
import base64
import hashlib
import os
import subprocess
import sys
import zipfile

import pytest

from algoperf import requirements_overlay
from algoperf import submission_loader

SUBMISSION = '''
import algoperf_tiny_dep


def get_batch_size(workload_name):
  return algoperf_tiny_dep.BATCH_SIZE


def init_optimizer_state(*args):
  return None


def update_params(*args, **kwargs):
  return None


def data_selection(*args):
  return None
'''


def _tiny_wheel(folder, batch_size):
  """A pure-Python wheel of `algoperf_tiny_dep` (BATCH_SIZE = batch_size), written by hand."""
  name, version = 'algoperf_tiny_dep', '0.1'
  files = {
      f'{name}/__init__.py': f'BATCH_SIZE = {batch_size}\n',
      f'{name}-{version}.dist-info/METADATA': f'Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n',
      f'{name}-{version}.dist-info/WHEEL': 'Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n'
                                           'Tag: py3-none-any\n',
  }
  record = []
  for path, text in files.items():
    digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b'=').decode()
    record.append(f'{path},sha256={digest},{len(text.encode())}')
  record.append(f'{name}-{version}.dist-info/RECORD,,')
  files[f'{name}-{version}.dist-info/RECORD'] = '\n'.join(record) + '\n'
  path = os.path.join(folder, f'{name}-{version}-py3-none-any.whl')
  with zipfile.ZipFile(path, 'w') as z:
    for member, text in files.items():
      z.writestr(member, text)
  return path


@pytest.fixture
def isolated(tmp_path, monkeypatch):
  monkeypatch.setenv('ALGOPERF_OVERLAY_DIR', str(tmp_path / 'cache'))
  monkeypatch.setenv('PIP_NO_INDEX', '1')  # Never the network, here.
  monkeypatch.setattr(sys, 'path', list(sys.path))
  monkeypatch.setenv('PYTHONPATH', os.environ.get('PYTHONPATH', ''))
  sys.modules.pop('algoperf_tiny_dep', None)
  yield tmp_path
  sys.modules.pop('algoperf_tiny_dep', None)


def _submission(folder, requirements):
  os.makedirs(folder)
  with open(os.path.join(folder, 'submission.py'), 'w') as f:
    f.write(SUBMISSION)
  with open(os.path.join(folder, 'requirements.txt'), 'w') as f:
    f.write(requirements)
  return os.path.join(folder, 'submission.py')


def test_requirements_are_installed_once_and_imported(isolated, monkeypatch):
  wheel = _tiny_wheel(str(isolated), 48)
  path = _submission(str(isolated / 'sub'), f'{wheel}\n')
  module = submission_loader.load_submission(path)
  assert module.get_batch_size('mnist') == 48
  key = requirements_overlay.overlay_key(os.path.join(str(isolated / 'sub'), 'requirements.txt'))
  overlay = isolated / 'cache' / key
  assert (overlay / 'algoperf_tiny_dep' / '__init__.py').exists()
  assert str(overlay) == sys.path[-1]  # After the pinned packages: those win on a clash.
  assert str(overlay) in os.environ['PYTHONPATH'].split(os.pathsep)  # Child processes see it.
  assert sorted(os.listdir(isolated / 'cache')) == [key]  # No staging folder or constraints file left.

  def no_pip(*args, **kwargs):
    raise AssertionError(f'pip ran again: {args}')

  monkeypatch.setattr(subprocess, 'run', no_pip)
  sys.modules.pop('algoperf_tiny_dep', None)
  assert submission_loader.load_submission(path).get_batch_size('mnist') == 48  # From the cache.


def test_other_requirements_get_another_overlay(isolated):
  wheel = _tiny_wheel(str(isolated), 48)
  first = _submission(str(isolated / 'a'), f'{wheel}\n')
  second = _submission(str(isolated / 'b'), f'{wheel}\n# pinned for the test\n')
  keys = {requirements_overlay.overlay_key(os.path.join(os.path.dirname(p), 'requirements.txt'))
          for p in (first, second)}
  assert len(keys) == 2


def test_a_requirement_that_cannot_be_installed_is_one_sentence(isolated):
  path = _submission(str(isolated / 'sub'), 'algoperf-no-such-package==1.0\n')
  with pytest.raises(requirements_overlay.RequirementsError) as error:
    submission_loader.load_submission(path)
  message = str(error.value)
  assert message.startswith(f'Could not install the requirements in {os.path.dirname(path)}/requirements.txt: ')
  assert 'algoperf-no-such-package==1.0' in message and 'fix or remove that requirement' in message
  assert '\n' not in message
  assert not os.listdir(isolated / 'cache')  # Nothing half-installed is kept.


def test_a_submission_without_requirements_needs_no_overlay(isolated):
  folder = isolated / 'plain'
  os.makedirs(folder)
  (folder / 'submission.py').write_text(SUBMISSION.replace('import algoperf_tiny_dep', 'import json'))
  assert requirements_overlay.activate(str(folder / 'submission.py')) is None
  assert not (isolated / 'cache').exists()


def test_requirements_the_environment_meets_add_nothing(isolated):
  # numpy is pinned in the lock and installed: no second copy goes into the overlay (and no index is asked).
  path = _submission(str(isolated / 'sub'), 'numpy\n')
  folder = requirements_overlay.activate(path)
  assert sorted(os.listdir(folder)) == ['.complete']


def test_a_requirement_against_a_pinned_version_fails(isolated):
  import numpy  # pylint: disable=import-outside-toplevel
  path = _submission(str(isolated / 'sub'), 'numpy<2\n')
  with pytest.raises(requirements_overlay.RequirementsError, match='numpy'):
    requirements_overlay.activate(path)
  assert numpy.__version__.startswith('2.')

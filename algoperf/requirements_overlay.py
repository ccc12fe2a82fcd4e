"""A submission's own Python requirements, installed once into a cached overlay and put on the path.

Upstream's submission layout has a `requirements.txt` beside the submission file
(`<ruleset>_tuning/<name>/{submission.py, tuning_search_space.json, requirements.txt}`). When the
loader finds one, `activate()`:
1. hashes the file's bytes with the Python version (sha256, 16 hex digits): the overlay's key;
2. if `<cache>/<key>/` is not complete yet, asks pip (the interpreter the trial runs on, reaching the
   registry as configured) what the requirements add to the running environment (`pip install --dry-run
   --report`, with requirements_lock.txt as constraints), installs just those into `<cache>/<key>.tmp`
   (`pip install --no-deps --target`) and renames the folder into place, so a half-installed overlay is
   never used;
3. appends the overlay to `sys.path` and to `PYTHONPATH` (child processes of the trial see it too).

The overlay goes at the end of the path and holds only packages the environment lacks; with the lock as
constraints, a requirement that needs another version of a pinned package fails at install time, with
pip's reason, so a submission cannot change the versions the harness runs on (the rules forbid changed
library versions).

Cache folder: `$ALGOPERF_OVERLAY_DIR`, else `~/.cache/algoperf/overlays`. Editing requirements.txt gives
a new key and a new overlay; delete the cache folder to reclaim the space.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
from typing import List, Optional

REQUIREMENTS_FILE = 'requirements.txt'
_COMPLETE = '.complete'


class RequirementsError(ValueError):
  """A submission's requirements.txt could not be installed; the message says which line and why."""


def cache_root() -> str:
  return os.path.expanduser(os.environ.get('ALGOPERF_OVERLAY_DIR') or '~/.cache/algoperf/overlays')


def requirements_of(submission_path: str) -> Optional[str]:
  """The requirements.txt beside a submission file, if there is one."""
  path = os.path.join(os.path.dirname(os.path.abspath(submission_path)), REQUIREMENTS_FILE)
  return path if os.path.isfile(path) else None


def overlay_key(requirements_path: str) -> str:
  with open(requirements_path, 'rb') as f:
    digest = hashlib.sha256(f.read())
  digest.update(f'py{sys.version_info[0]}.{sys.version_info[1]}'.encode())
  return digest.hexdigest()[:16]


def _lock_file() -> Optional[str]:
  """requirements_lock.txt of this checkout (or of the Bazel runfiles tree), if it can be found."""
  here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  candidates = [os.path.join(here, 'requirements_lock.txt')]
  runfiles = os.environ.get('RUNFILES_DIR')
  if runfiles:
    candidates.append(os.path.join(runfiles, 'algoperf', 'requirements_lock.txt'))
  return next((c for c in candidates if os.path.isfile(c)), None)


def _constraints(lock_path: str, folder: str, pid: int) -> str:
  """The lock's pins without the `# data-only` ones (their dependencies are deliberately not installed)."""
  lines = []
  with open(lock_path) as f:
    for line in f:
      line = line.strip()
      if line and not line.startswith('#') and '# data-only' not in line:
        lines.append(line.split('#')[0].strip())
  path = os.path.join(folder, f'constraints.{pid}.txt')
  with open(path, 'w') as f:
    f.write('\n'.join(lines) + '\n')
  return path


def install(requirements_path: str) -> str:
  """The overlay folder for a requirements file, installed first if the cache lacks it."""
  root = cache_root()
  folder = os.path.join(root, overlay_key(requirements_path))
  if os.path.exists(os.path.join(folder, _COMPLETE)):
    return folder
  os.makedirs(root, exist_ok=True)
  staging = f'{folder}.tmp{os.getpid()}'
  shutil.rmtree(staging, ignore_errors=True)
  os.makedirs(staging)
  print(f'Installing the requirements of {requirements_path} into {folder} (once; cached by its hash).',
        flush=True)
  try:
    urls = _resolve(requirements_path, root, staging)
    if urls:
      _pip(requirements_path, ['install', '--no-deps', '--target', staging] + urls)
  except RequirementsError:
    shutil.rmtree(staging, ignore_errors=True)
    raise
  with open(os.path.join(staging, _COMPLETE), 'w') as f:
    f.write(requirements_path + '\n')
  if os.path.exists(os.path.join(folder, _COMPLETE)):  # Another process finished the same overlay first.
    shutil.rmtree(staging, ignore_errors=True)
  else:
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(staging, folder)
  return folder


def _resolve(requirements_path: str, root: str, staging: str) -> List[str]:
  """What pip would add to the running environment for these requirements (as download URLs).

  The dry run resolves against the installed packages, so a requirement that the environment already
  satisfies adds nothing (`pip install --target` alone would install a second copy of, say, torch), and
  the lock's pins are constraints, so a requirement that needs another version of one of them fails here.
  """
  report = os.path.join(staging, 'report.json')
  args = ['install', '--dry-run', '--report', report, '-r', requirements_path]
  lock = _lock_file()
  constraints = _constraints(lock, root, os.getpid()) if lock else None
  try:
    _pip(requirements_path, args + (['-c', constraints] if constraints else []))
  finally:
    if constraints:
      os.remove(constraints)
  with open(report) as f:
    planned = json.load(f).get('install', [])
  os.remove(report)
  return [item['download_info']['url'] for item in planned]


def _pip(requirements_path: str, args: List[str]) -> None:
  command = [sys.executable, '-m', 'pip', '--disable-pip-version-check', '--quiet'] + args
  result = subprocess.run(command, capture_output=True, text=True, check=False)
  if result.returncode != 0:
    reason = _pip_reason(result.stderr + result.stdout)
    raise RequirementsError(f'Could not install the requirements in {requirements_path}: {reason}; fix or remove '
                            'that requirement (the benchmark\'s own packages are pinned in requirements_lock.txt '
                            'and cannot change version).')


def _pip_reason(output: str) -> str:
  """pip's own error lines, one sentence (pip prints the unsatisfiable requirement and why)."""
  lines = [line.strip() for line in output.splitlines() if line.strip()]
  errors = [line[len('ERROR:'):].strip() for line in lines if line.startswith('ERROR:')]
  text = ' '.join(errors) if errors else (lines[-1] if lines else 'pip failed without a message')
  return text.rstrip('.')


def activate(submission_path: str) -> Optional[str]:
  """Installs (if needed) and puts on the path the overlay of a submission's requirements.txt, if any."""
  requirements = requirements_of(submission_path)
  if requirements is None:
    return None
  folder = install(requirements)
  if folder not in sys.path:
    sys.path.append(folder)
  paths = [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]
  if folder not in paths:
    os.environ['PYTHONPATH'] = os.pathsep.join(paths + [folder])
  return folder

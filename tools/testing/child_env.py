"""The environment of a test's child processes (a runner, torchrun's ranks, a tool's main, a trial worker)."""
import contextlib
import os
import shutil
import sys
import tempfile

# The repository root as this process sees it (the runfiles tree under Bazel: not resolved to the sources).
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def pythonpath() -> str:
  """The repository root, then every entry of this process's sys.path, in order, once each."""
  return os.pathsep.join(dict.fromkeys([ROOT] + [p for p in sys.path if p]))


def child_env(**overrides) -> dict:
  """os.environ for a child Python process, with `overrides` (a value of None removes the variable).

  The child is a fresh interpreter: it sees only PYTHONPATH and its own site-packages, not the entries this
  process gained after it started (pytest puts the repository root on sys.path; plain pytest, outside Bazel,
  sets no PYTHONPATH at all), so PYTHONPATH becomes pythonpath() and the child imports what the test imports.
  BUILD_WORKING_DIRECTORY is dropped: `bazel run` of a test sets it, and the child would then resolve its
  relative flags against the user's folder (algoperf/paths.py) instead of the test's.
  """
  env = dict(os.environ, PYTHONPATH=pythonpath())
  env.pop('BUILD_WORKING_DIRECTORY', None)
  for name, value in overrides.items():
    if value is None:
      env.pop(name, None)
    else:
      env[name] = str(value)
  return env


@contextlib.contextmanager
def local_ray_environment(monkeypatch):
  """The environment of a test that starts a local Ray cluster; yields Ray's temporary folder.

  Ray's workers import the repository afresh (PYTHONPATH) and get one thread each, as the local executor's
  trials. Ray's Unix sockets live under RAY_TMPDIR, and Bazel's TEST_TMPDIR is too long a path for them. Ray
  writes its authentication token under ~/.ray, and a Bazel sandbox mounts the home folder read-only, so HOME
  points into that folder too (its workers inherit it and read the token there).
  """
  monkeypatch.setenv('PYTHONPATH', pythonpath())
  monkeypatch.setenv('OMP_NUM_THREADS', '1')
  ray_tmp = tempfile.mkdtemp(prefix='ray', dir='/tmp')
  monkeypatch.setenv('RAY_TMPDIR', ray_tmp)
  home = os.path.join(ray_tmp, 'home')
  os.makedirs(home)
  monkeypatch.setenv('HOME', home)
  try:
    yield ray_tmp
  finally:
    shutil.rmtree(ray_tmp, ignore_errors=True)

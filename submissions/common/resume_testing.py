"""Kill-and-resume check for a submission folder (tests/resume_test.py's pattern, for any folder).

Runs the submission on MNIST smoke through algoperf/submission_runner.py to `steps`, then again with SIGKILL
once a checkpoint after a later eval exists, resumes that run with --resume_last_run, and returns the last
eval rows of the uninterrupted and the resumed runs (they must agree: the averaged or interpolated weights
are part of the checkpointed optimizer state). The killed run goes through a wrapper that sleeps a little
before each update: on a fast host the unslowed run could finish all its steps before the second eval was
seen and the kill arrived. Sleeping changes when evals happen, not the parameters at a given step, and the
resumed run goes through the original file (no time lost; the checkpoint does not depend on the file).
"""
import csv
import os
import signal
import subprocess
import sys
import time

from tools.testing.child_env import child_env

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
DATA_DIR = os.environ.get('MNIST_SMOKE_DATA_DIR', os.path.join(ROOT, 'tools', 'datasets', 'smoke'))


# Per update: 5,000 steps then take at least 10 s, ten MNIST smoke eval periods (1 s).
SLEEP_PER_STEP_SEC = 0.002

_SLOWED_SUBMISSION = """\
# Written by submissions/common/resume_testing.py: {path} with a sleep before each update.
import functools
import importlib.util
import sys
import time

sys.path.insert(0, {folder!r})
_spec = importlib.util.spec_from_file_location('_slowed_original', {path!r})
_original = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_original)
globals().update({{k: v for k, v in vars(_original).items() if not k.startswith('__')}})


@functools.wraps(_original.update_params)  # Keeps the signature the harness reads (train_state).
def update_params(*args, **kwargs):
  time.sleep({sleep})
  return _original.update_params(*args, **kwargs)
"""


def slowed_submission(directory: str, submission_path: str, sleep_sec: float = SLEEP_PER_STEP_SEC) -> str:
  """Writes a file that runs `submission_path` with a sleep before each update; returns its path.

  It lies in a folder of `directory` named as the original's folder and has the original's file name: trial
  seeds derive from the folder name (algoperf/runner.py), so both files train alike.
  """
  original_folder = os.path.dirname(os.path.abspath(submission_path))
  folder = os.path.join(directory, os.path.basename(original_folder))
  os.makedirs(folder, exist_ok=True)
  path = os.path.join(folder, os.path.basename(submission_path))
  with open(path, 'w') as f:
    f.write(_SLOWED_SUBMISSION.format(path=os.path.abspath(submission_path), folder=original_folder,
                                      sleep=sleep_sec))
  return path


def _command(folder, framework, experiment_dir, steps, rules, *extra, submission_path=None):
  submission_path = submission_path or f'{folder}/{framework}_submission.py'
  command = [sys.executable, os.path.join(ROOT, 'algoperf', 'submission_runner.py'), f'--framework={framework}',
             '--workload=mnist', '--scale=smoke', f'--data_dir={DATA_DIR}', f'--experiment_dir={experiment_dir}',
             '--experiment_name=resume', f'--submission_path={submission_path}',
             '--rng_seed=3', f'--max_global_steps={steps}', f'--rules_version={rules}', *extra]
  space = os.path.join(folder, 'tuning_search_space.json')
  if os.path.exists(space):
    command += [f'--tuning_search_space={space}', '--num_tuning_trials=1']
  else:
    command += ['--tuning_ruleset=self']
  return command


def _env():
  # One intra-op thread: on a shared machine torch's thread pool waits on descheduled workers (seconds per
  # step); the three runs use the same setting, so the comparison is unaffected.
  return child_env(OMP_NUM_THREADS='1')


def _rows(experiment_dir, framework):
  path = os.path.join(experiment_dir, 'resume', f'mnist_{framework}', 'trial_1', 'eval_measurements.csv')
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return list(csv.DictReader(f))


def _run(command):
  done = subprocess.run(command, env=_env(), capture_output=True, text=True)
  if done.returncode != 0:
    raise AssertionError(f'{" ".join(command[1:3])} ... exited with {done.returncode}:\n{done.stderr[-3000:]}')


def reference_and_resumed(tmp_path, folder: str, framework: str, steps: int, rules: str = 'v0.6'):
  """(last eval row of an uninterrupted run, last eval row of a killed-and-resumed run, killed run's rows)."""
  reference_dir, killed_dir = str(tmp_path / 'reference'), str(tmp_path / 'killed')
  _run(_command(folder, framework, reference_dir, steps, rules))
  slowed = slowed_submission(str(tmp_path / 'slowed'), f'{folder}/{framework}_submission.py')
  process = subprocess.Popen(_command(folder, framework, killed_dir, steps, rules, submission_path=slowed),
                             env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.time() + 120
  while time.time() < deadline and process.poll() is None:
    if len(_rows(killed_dir, framework)) >= 2:  # A checkpoint after a later eval than the first step's.
      break
    time.sleep(0.02)
  process.send_signal(signal.SIGKILL)
  process.wait()
  killed_rows = _rows(killed_dir, framework)
  _run(_command(folder, framework, killed_dir, steps, rules, '--resume_last_run'))
  return _rows(reference_dir, framework)[-1], _rows(killed_dir, framework)[-1], killed_rows

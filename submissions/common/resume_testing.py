"""Kill-and-resume check for a submission folder (tests/resume_test.py's pattern, for any folder).

Runs the submission on MNIST smoke through algoperf/submission_runner.py to `steps`, then again with SIGKILL
once a checkpoint after a later eval exists, resumes that run with --resume_last_run, and returns the last
eval rows of the uninterrupted and the resumed runs (they must agree: the averaged or interpolated weights
are part of the checkpointed optimizer state).
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


def _command(folder, framework, experiment_dir, steps, rules, *extra):
  command = [sys.executable, os.path.join(ROOT, 'algoperf', 'submission_runner.py'), f'--framework={framework}',
             '--workload=mnist', '--scale=smoke', f'--data_dir={DATA_DIR}', f'--experiment_dir={experiment_dir}',
             '--experiment_name=resume', f'--submission_path={folder}/{framework}_submission.py',
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
  process = subprocess.Popen(_command(folder, framework, killed_dir, steps, rules), env=_env(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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

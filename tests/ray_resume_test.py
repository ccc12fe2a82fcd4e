"""--executor=ray when a Ray worker dies mid-trial: Ray retries the task and the trial resumes from its last
checkpoint, ending with the eval metrics of an uninterrupted run; with no retries left, the trial is recorded
as failed with Ray's reason.

The trial is SGD on MNIST smoke with a 10 ms sleep per step (tests/testdata/faulty, mode sleep): 600 steps
take at least 6 s of training, so a kill sent as soon as the first checkpoint (after the step-1 eval) is in
the folder lands before the trial can end. The killed process is the Ray worker running the task; the trial
process it started dies with it (trial_process._die_with_parent)."""
import csv
import os
import re
import signal
import subprocess
import sys
import threading
import time

import psutil
import pytest

from algoperf import ray_executor
from algoperf import trial_process
from algoperf import trials as trials_lib
from tools.testing.child_env import child_env, local_ray_environment

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
DATA_DIR = os.environ.get('MNIST_SMOKE_DATA_DIR', os.path.join(ROOT, 'tools', 'datasets', 'smoke'))
FAULTY = os.path.join(ROOT, 'tests', 'testdata', 'faulty', 'submission.py')
STEPS = 600
TASK_NAME = '_run_trial_task'  # Ray titles a worker process ray::<task function> while it runs the task.


@pytest.fixture(autouse=True)
def _environment(monkeypatch):
  with local_ray_environment(monkeypatch):
    yield


def _spec(trial_dir):
  return trials_lib.TrialSpec(
      submission_path=FAULTY, workload='mnist', framework='pytorch', ruleset='external', rules_version='v0.6',
      scale='smoke', data_dir=DATA_DIR, trial_dir=str(trial_dir), seed=8, max_global_steps=STEPS,
      hyperparameters={'mode': 'sleep', 'sleep_sec': 0.01}, label='killed')


def _final_row(trial_dir):
  with open(os.path.join(trial_dir, 'eval_measurements.csv')) as f:
    rows = list(csv.DictReader(f))
  steps = [int(r['global_step']) for r in rows]
  assert steps == sorted(set(steps)), f'eval rows repeat or go back: {steps}'
  return rows[-1]


def _task_workers():
  """The Ray worker processes (descendants of this test: its local cluster) running a trial task now."""
  workers = []
  for process in psutil.Process().children(recursive=True):
    try:
      if TASK_NAME in ' '.join(process.cmdline()):
        workers.append(process)
    except psutil.Error:
      pass
  return workers


def _kill_worker_after_first_checkpoint(trial_dir, killed):
  """Waits for the trial's first checkpoint, then SIGKILLs the Ray worker running it (once)."""
  deadline = time.time() + 150
  while time.time() < deadline:
    if os.path.exists(os.path.join(trial_dir, 'checkpoint.pt')):
      workers = _task_workers()
      if len(workers) == 1:
        killed['finished_before_kill'] = os.path.exists(os.path.join(trial_dir, 'status.json'))
        killed['pid'] = workers[0].pid
        workers[0].send_signal(signal.SIGKILL)
        return
    time.sleep(0.05)


def _run_with_a_kill(executor, trial_dir):
  killed = {}
  killer = threading.Thread(target=_kill_worker_after_first_checkpoint, args=(trial_dir, killed), daemon=True)
  killer.start()
  result = executor.run(_spec(trial_dir))
  killer.join()
  assert 'pid' in killed, 'the worker was not found and killed'
  assert not killed['finished_before_kill']
  return result


def test_a_killed_ray_worker_is_retried_and_the_trial_resumes(tmp_path):
  reference_dir, killed_dir = tmp_path / 'reference', tmp_path / 'killed'
  with trial_process.TrialExecutor() as executor:
    reference = executor.run(_spec(reference_dir))
  assert reference.status == 'completed' and reference.global_step == STEPS

  with ray_executor.RayExecutor(None, trial_cpus=1, num_cpus=1, max_retries=1) as executor:
    resumed = _run_with_a_kill(executor, killed_dir)
    assert resumed.status == 'completed', resumed.reason
    assert resumed.global_step == STEPS
    # The retried task resumed the trial (a second start in the folder) instead of starting it over.
    names = os.listdir(killed_dir)
    assert {'flags_0.json', 'flags_1.json', 'meta_data_0.json', 'meta_data_1.json'} <= set(names)
    assert 'flags_2.json' not in names
    final, expected = _final_row(killed_dir), _final_row(reference_dir)
    assert int(final['preemption_count']) == 1
    for key in ('global_step', 'validation/accuracy', 'validation/loss', 'test/loss', 'train/loss'):
      assert final[key] == expected[key], key

  # No retries left: the trial is recorded as failed, with the reason, and the run goes on.
  with ray_executor.RayExecutor(None, trial_cpus=1, num_cpus=1, max_retries=0) as executor:
    failed = _run_with_a_kill(executor, tmp_path / 'failed')
  assert failed.status == 'failed'
  assert 'Ray task failed' in failed.reason
  status = trials_lib.read_result(str(tmp_path / 'failed'))
  assert status.status == 'failed' and 'Ray task failed' in status.reason
  with open(tmp_path / 'failed' / 'trial.log') as f:
    assert 'Ray task failed' in f.read()


def test_a_home_ray_cannot_write_to_is_one_sentence(tmp_path):
  not_a_folder = tmp_path / 'home'
  not_a_folder.write_text('')  # ~/.ray cannot be made under a file (a read-only home fails alike).
  # A fresh interpreter: Ray caches the token of an earlier cluster in this process and would not look again.
  start = 'from algoperf import ray_executor; ray_executor.RayExecutor(None, trial_cpus=1, num_cpus=1)'
  result = subprocess.run([sys.executable, '-c', start], capture_output=True, text=True, timeout=120,
                          env=child_env(HOME=not_a_folder, RAY_AUTH_MODE=None))
  assert result.returncode != 0
  assert re.search(r'RuntimeError: Ray could not write its authentication token .*point HOME at a writable folder',
                   result.stderr), result.stderr[-2000:]

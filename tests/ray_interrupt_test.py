"""--executor=ray and Ctrl-C: a SIGINT while trials run cancels the trials not yet ended (their Ray workers and
trial processes stop, nothing is recorded for them) and leaves the finished trial's folder as it was.

Three trials on a local cluster of two slots: a short one (20 steps), and two long ones (SGD on MNIST smoke
with a 10 ms sleep per step, 6000 steps: at least a minute each), the second queued until the short one ends.
The SIGINT comes once the short trial's result is in and the first long trial has written its first eval."""
import json
import os
import signal
import threading
import time

import psutil
import pytest

from algoperf import ray_executor
from algoperf import trials as trials_lib
from tools.testing.child_env import local_ray_environment

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
DATA_DIR = os.environ.get('MNIST_SMOKE_DATA_DIR', os.path.join(ROOT, 'tools', 'datasets', 'smoke'))
FAULTY = os.path.join(ROOT, 'tests', 'testdata', 'faulty', 'submission.py')


@pytest.fixture(autouse=True)
def _environment(monkeypatch):
  # SIGINT raises KeyboardInterrupt here, as in a terminal, whatever the launcher left its disposition at.
  previous = signal.signal(signal.SIGINT, signal.default_int_handler)
  try:
    with local_ray_environment(monkeypatch):
      yield
  finally:
    signal.signal(signal.SIGINT, previous)


def _spec(trial_dir, steps):
  return trials_lib.TrialSpec(
      submission_path=FAULTY, workload='mnist', framework='pytorch', ruleset='external', rules_version='v0.6',
      scale='smoke', data_dir=DATA_DIR, trial_dir=str(trial_dir), seed=3, max_global_steps=steps,
      hyperparameters={'mode': 'sleep', 'sleep_sec': 0.01})


def _trial_processes():
  """This test's descendants that run trials: Ray workers in a trial task, and the trial processes they start."""
  found = []
  for process in psutil.Process().children(recursive=True):
    try:
      command = ' '.join(process.cmdline())
    except psutil.Error:
      continue
    if '_run_trial_task' in command or 'multiprocessing.spawn' in command:
      found.append(process)
  return found


def test_ctrl_c_cancels_running_and_queued_trials_and_keeps_finished_ones(tmp_path):
  short, long, queued = tmp_path / 'short', tmp_path / 'long', tmp_path / 'queued'
  specs = [_spec(short, 20), _spec(long, 6000), _spec(queued, 6000)]
  results = []

  def interrupt():
    deadline = time.time() + 150
    while time.time() < deadline:
      if results and os.path.exists(long / 'eval_measurements.csv'):
        os.kill(os.getpid(), signal.SIGINT)  # What Ctrl-C sends the driver.
        return
      time.sleep(0.05)

  with ray_executor.RayExecutor(None, trial_cpus=1, num_cpus=2) as executor:
    interrupter = threading.Thread(target=interrupt, daemon=True)
    interrupter.start()
    with pytest.raises(KeyboardInterrupt):
      for index, result in executor.run_many(specs):
        results.append((index, result))
    interrupter.join()
    # Cancelled: the running trial's Ray worker and trial process end (while the cluster still runs).
    deadline = time.time() + 30  # Cancelling kills them at once; the long trials would train for minutes.
    while _trial_processes() and time.time() < deadline:
      time.sleep(0.2)
    assert not _trial_processes()

  assert [(i, r.status) for i, r in results] == [(0, 'completed')]
  with open(short / 'status.json') as f:
    assert json.load(f)['status'] == 'completed'
  assert trials_lib.read_result(str(short)).global_step == 20
  # Nothing recorded for the cancelled trials (the running one keeps its checkpoint for a rerun).
  assert not os.path.exists(long / 'status.json')
  assert os.path.exists(long / 'checkpoint.pt')
  assert not os.path.exists(queued / 'status.json')

"""Fault injection: one trial SIGKILLed at 20 random instants (during steps, evals and checkpoint writes),
each time resumed with --resume_last_run, ends with exactly the eval metrics of an uninterrupted run.

The trial is SGD on MNIST smoke with a 10 ms sleep per step (tests/testdata/faulty, mode sleep), so it trains
for at least 40 s whatever the machine's speed, while each kill lands within 2.5 s of training and every
resume repeats the work since its checkpoint: all 20 kills land before the trial can finish."""
import csv
import json
import os
import random
import signal
import subprocess
import sys
import time

from tools.testing.child_env import child_env

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
DATA_DIR = os.environ.get('MNIST_SMOKE_DATA_DIR', os.path.join(ROOT, 'tools', 'datasets', 'smoke'))
SUBMISSION = os.path.join(ROOT, 'tests', 'testdata', 'faulty', 'submission.py')
STEPS = 4000
KILLS = 20
MAX_KILL_DELAY_SEC = 2.5  # Beyond the 1 s eval period: kills land in steps, evals and checkpoint writes.


def _command(experiment_dir, resume, space):
  return [sys.executable, os.path.join(ROOT, 'algoperf', 'submission_runner.py'), '--framework=pytorch',
          '--workload=mnist', '--scale=smoke', f'--data_dir={DATA_DIR}', f'--experiment_dir={experiment_dir}',
          '--experiment_name=kills', f'--submission_path={SUBMISSION}', f'--tuning_search_space={space}',
          '--num_tuning_trials=1',
          '--rng_seed=8', f'--max_global_steps={STEPS}', '--noisolate_trials'] + (['--resume_last_run'] if resume
                                                                                  else [])


def _env():
  return child_env(OMP_NUM_THREADS='1')


def _final_row(experiment_dir):
  with open(os.path.join(experiment_dir, 'kills', 'mnist_pytorch', 'trial_1', 'eval_measurements.csv')) as f:
    rows = list(csv.DictReader(f))
  steps = [int(r['global_step']) for r in rows]
  assert steps == sorted(set(steps)), f'eval rows repeat or go back: {steps}'
  return rows[-1]


def _training_since(trial_dir, start):
  """Whether a process started at `start` has restored its state and begun training (it writes meta data)."""
  if not os.path.isdir(trial_dir):
    return False
  for name in os.listdir(trial_dir):
    if name.startswith('meta_data_') and name.endswith('.json'):  # Not a temporary file being renamed.
      try:
        if os.path.getmtime(os.path.join(trial_dir, name)) >= start:
          return True
      except FileNotFoundError:
        pass
  return False


def test_twenty_random_sigkills_then_resume_match_an_uninterrupted_run(tmp_path):
  reference_dir, killed_dir = str(tmp_path / 'reference'), str(tmp_path / 'killed')
  space = tmp_path / 'space.json'
  space.write_text(json.dumps([{'mode': 'sleep', 'sleep_sec': 0.01}]))
  subprocess.run(_command(reference_dir, False, space), env=_env(), check=True, capture_output=True)
  reference = _final_row(reference_dir)
  trial_dir = os.path.join(killed_dir, 'kills', 'mnist_pytorch', 'trial_1')
  rng = random.Random(0)
  kills = 0
  while kills < KILLS:
    start = time.time()
    process = subprocess.Popen(_command(killed_dir, kills > 0, space), env=_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    while not _training_since(trial_dir, start) and process.poll() is None:  # Not during start-up (imports).
      time.sleep(0.02)
    time.sleep(rng.uniform(0.0, MAX_KILL_DELAY_SEC))  # A random instant: a step, an eval or a checkpoint write.
    if process.poll() is not None:
      break  # The trial finished before this kill.
    process.send_signal(signal.SIGKILL)
    process.wait()
    kills += 1
  assert kills == KILLS, f'only {kills} kills landed before the trial finished'
  subprocess.run(_command(killed_dir, True, space), env=_env(), check=True, capture_output=True)
  resumed = _final_row(killed_dir)
  assert int(resumed['preemption_count']) >= 1
  for key in ('global_step', 'validation/accuracy', 'validation/loss', 'test/loss', 'train/loss'):
    assert resumed[key] == reference[key], key

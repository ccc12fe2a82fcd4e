"""A trial killed with SIGKILL mid-training and resumed with --resume_last_run ends with the same eval
metrics as an uninterrupted run with the same seed (both frameworks, through the command line)."""
import csv
import os
import signal
import subprocess
import sys
import time

import pytest

from tools.testing.child_env import child_env

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
DATA_DIR = os.environ.get('MNIST_SMOKE_DATA_DIR', os.path.join(ROOT, 'tools', 'datasets', 'smoke'))
SUBMISSION_DIR = os.path.join(ROOT, 'submissions', 'external_tuning', 'nadamw_baseline')
STEPS = {'jax': 5000, 'pytorch': 2000}


def _command(framework, experiment_dir, *extra):
  return [sys.executable, os.path.join(ROOT, 'algoperf', 'submission_runner.py'), f'--framework={framework}',
          '--workload=mnist', '--scale=smoke', f'--data_dir={DATA_DIR}', f'--experiment_dir={experiment_dir}',
          '--experiment_name=resume', f'--submission_path={SUBMISSION_DIR}/{framework}_submission.py',
          f'--tuning_search_space={SUBMISSION_DIR}/tuning_search_space.json', '--num_tuning_trials=1',
          '--rng_seed=3', f'--max_global_steps={STEPS[framework]}', *extra]


def _env():
  return child_env()


def _rows(experiment_dir, framework):
  path = os.path.join(experiment_dir, 'resume', f'mnist_{framework}', 'trial_1', 'eval_measurements.csv')
  with open(path) as f:
    return list(csv.DictReader(f))


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_resume_after_sigkill_matches_an_uninterrupted_run(tmp_path, framework):
  reference_dir, killed_dir = str(tmp_path / 'reference'), str(tmp_path / 'killed')
  subprocess.run(_command(framework, reference_dir), env=_env(), check=True, capture_output=True)
  reference = _rows(reference_dir, framework)[-1]
  assert int(reference['global_step']) == STEPS[framework]

  process = subprocess.Popen(_command(framework, killed_dir), env=_env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
  trial = os.path.join(killed_dir, 'resume', f'mnist_{framework}', 'trial_1')
  deadline = time.time() + 120
  # Kill once a checkpoint after a later eval (not only the one after step 1) exists.
  while time.time() < deadline and process.poll() is None:
    if os.path.exists(os.path.join(trial, 'eval_measurements.csv')) and len(_rows(killed_dir, framework)) >= 2:
      break
    time.sleep(0.05)
  process.send_signal(signal.SIGKILL)
  process.wait()
  killed_rows = _rows(killed_dir, framework)
  assert int(killed_rows[-1]['global_step']) < STEPS[framework], 'the run finished before it was killed'

  subprocess.run(_command(framework, killed_dir, '--resume_last_run'), env=_env(), check=True,
                 capture_output=True)
  resumed = _rows(killed_dir, framework)[-1]
  assert os.path.exists(os.path.join(trial, 'meta_data_1.json'))  # The resumed run is preemption 1.
  assert resumed['preemption_count'] == '1'
  for key in ('global_step', 'validation/accuracy', 'validation/loss', 'test/loss', 'train/loss'):
    assert resumed[key] == reference[key], key

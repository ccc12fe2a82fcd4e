"""Trials in child processes: faults that kill the process are recorded and the study goes on; a reused
worker trains exactly like a fresh one."""
import csv
import json
import os

import pytest

from algoperf import runner
from algoperf import trial_process
from tools.testing.child_env import pythonpath

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
DATA_DIR = os.environ.get('MNIST_SMOKE_DATA_DIR', os.path.join(ROOT, 'tools', 'datasets', 'smoke'))
FAULTY = os.path.join(ROOT, 'tests', 'testdata', 'faulty', 'submission.py')
BASELINE = os.path.join(ROOT, 'submissions', 'external_tuning', 'nadamw_baseline')


@pytest.fixture(autouse=True)
def _children_find_the_repo(monkeypatch):
  # Spawned workers import algoperf afresh: they need the repository on their path, as the commands have.
  monkeypatch.setenv('PYTHONPATH', pythonpath())
  monkeypatch.setenv('ALGOPERF_JAX_CACHE_DIR', 'off')


def _read(path):
  with open(path) as f:
    return f.read()


def test_process_faults_fail_their_trial_only_and_say_why(tmp_path):
  points = [{'mode': m, 'sleep_sec': 0.0} for m in ('abort', 'segfault', 'oom', 'hang', 'sleep')]
  space = tmp_path / 'faults.json'
  space.write_text(json.dumps(points))
  with trial_process.TrialExecutor(memory_gb=1.5, timeout_sec=45) as executor:
    results = runner.score_submission_on_workload(
        FAULTY, 'mnist', 'pytorch', 'external', str(space), len(points), DATA_DIR, str(tmp_path / 'run'), 0,
        'smoke', 'v0.6', max_global_steps=10, executor=executor)
  assert [r.status for r in results] == ['failed'] * 4 + ['completed']
  expected = ['killed by signal SIGABRT', 'killed by signal SIGSEGV', 'exceeded the memory limit of 1.5 GB',
              'exceeded the wall-time limit of 45 s']
  for result, reason in zip(results, expected):
    assert reason in result.reason
    status = json.load(open(os.path.join(result.trial_dir, 'status.json')))
    assert status['status'] == 'failed' and reason in status['reason']
    log = _read(os.path.join(result.trial_dir, 'trial.log'))
    assert reason in log
    # The first eval (after step 1) happened before the fault at step 3, and is kept.
    assert result.last_eval is not None and result.global_step == 1
  # faulthandler's Python stack from the dying process reaches trial.log for the fatal signals.
  assert 'update_params' in _read(os.path.join(results[0].trial_dir, 'trial.log'))
  assert 'Segmentation fault' in _read(os.path.join(results[1].trial_dir, 'trial.log'))
  assert results[4].global_step == 10


@pytest.mark.parametrize('framework', ['pytorch', 'jax'])
def test_a_reused_worker_trains_like_a_fresh_one(tmp_path, framework):
  submission = os.path.join(BASELINE, f'{framework}_submission.py')
  space = os.path.join(BASELINE, 'tuning_search_space.json')

  def run(executor, log_dir, start, end):
    return runner.score_submission_on_workload(
        submission, 'mnist', framework, 'external', space, 2, DATA_DIR, str(log_dir), 5, 'smoke', 'v0.6',
        max_global_steps=30, hparam_start_index=start, hparam_end_index=end, executor=executor)

  with trial_process.TrialExecutor() as executor:
    reused = run(executor, tmp_path / 'reused', 0, 2)  # Trial 2 runs in the worker that ran trial 1.
  with trial_process.TrialExecutor() as executor:
    fresh = run(executor, tmp_path / 'fresh', 1, 2)  # Trial 2 alone, in a new worker.
  assert [r.status for r in reused + fresh] == ['completed'] * 3

  def metrics_by_step(result):  # Evals fall at steps set by the clock; the metrics at a step are exact.
    with open(os.path.join(result.trial_dir, 'eval_measurements.csv')) as f:
      return {row['global_step']: {k: v for k, v in row.items() if k.startswith(('train/', 'validation/', 'test/'))}
              for row in csv.DictReader(f)}
  reused_rows, fresh_rows = metrics_by_step(reused[1]), metrics_by_step(fresh[0])
  common = set(reused_rows) & set(fresh_rows)
  assert {'1', '30'} <= common
  assert all(reused_rows[step] == fresh_rows[step] for step in common)

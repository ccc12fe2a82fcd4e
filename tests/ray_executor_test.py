"""--executor=ray against the local executor: the same planned benchmark (MNIST smoke, nadamw_baseline and
schedule_free_adamw, 1 study x 2 trials, seed 0), run through tools/benchmark.py's planning and run_all on a
local Ray cluster of two worker slots and on the local TrialExecutor, gives the same trial folders, the same
eval metrics and the same scores. One test per framework (each its own Bazel target, to stay near a minute and
a half on a loaded 2-core machine: every Ray trial starts a fresh trial process).

What can be equal, and why:
- The files of each trial folder, and the contents of those that hold no measured time (hparams.json,
  flags_0.json, meta_data_0.json): each trial gets its hyperparameters and seed from the plan, whichever
  executor runs it.
- Eval metrics at the same global step: a trial's training is deterministic given its seed, so the metrics at
  a step are exact. Which steps are evaluated is not: evals fall due on submission time (wall clock). Two
  evals are fixed by the rules whatever the clock says: the one after step 1 and the one when training
  completes at --max_global_steps; every step both runs evaluated is compared, and those two must be among
  them.
- Scores: the scorer takes each trial's first eval that reaches the target and that eval's submission time,
  so a score involves wall-clock ratios between submissions that differ between any two runs (two local runs
  too) unless no time enters it. At smoke scale MNIST's targets are the published ones (0.97), out of reach
  by design, so every time to target is infinite and the scores are set by the eval metrics alone. The test
  checks that premise in both runs before it compares the scores; it would have to be rethought (not
  loosened) for a set-up where trials reach their targets.
"""
import csv
import json
import os

import pytest

from algoperf import ray_executor
from algoperf import trial_process
from scoring import layout
from scoring import leaderboard
from tools import benchmark
from tools.testing.child_env import local_ray_environment

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
DATA_DIR = os.environ.get('MNIST_SMOKE_DATA_DIR', os.path.join(ROOT, 'tools', 'datasets', 'smoke'))
SUBMISSIONS = ['nadamw_baseline', 'schedule_free_adamw']
STEPS = 8
UNTIMED_FILES = ('hparams.json', 'flags_0.json', 'meta_data_0.json')


@pytest.fixture(autouse=True)
def _environment(monkeypatch, tmp_path):
  # Both executors' trials (spawned locally, or Ray workers) see the same environment.
  monkeypatch.setenv('ALGOPERF_JAX_CACHE_DIR', str(tmp_path / 'jax_cache'))
  with local_ray_environment(monkeypatch):
    yield


def _plan(experiment_dir, framework):
  return benchmark.make_plans(
      str(experiment_dir), SUBMISSIONS, ['mnist'], [framework], 'external', 1, 2, 0, rules_version='v0.6',
      scale='smoke', data_dir=DATA_DIR, max_global_steps=STEPS,
      flags={'benchmark': True, 'scale': 'smoke', 'rules_version': 'v0.6'})


def _trial_folders(experiment_dir):
  folders = {}
  for parent, _, files in os.walk(experiment_dir):
    if 'status.json' in files:
      folders[os.path.relpath(parent, experiment_dir)] = sorted(files)
  return folders


def _metrics_by_step(trial_dir):
  with open(os.path.join(trial_dir, 'eval_measurements.csv')) as f:
    return {int(row['global_step']): {k: v for k, v in row.items() if k.startswith(('train/', 'validation/',
                                                                                    'test/'))}
            for row in csv.DictReader(f)}


def _read_json(path):
  with open(path) as f:
    return json.load(f)


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_ray_executor_gives_the_local_executors_folders_metrics_and_scores(tmp_path, framework):
  local_dir, ray_dir = tmp_path / 'local', tmp_path / 'ray'
  with trial_process.TrialExecutor() as executor:
    local = benchmark.run_all(_plan(local_dir, framework), executor)
  with ray_executor.RayExecutor(None, trial_cpus=1, num_cpus=2) as executor:  # Two trials at a time.
    remote = benchmark.run_all(_plan(ray_dir, framework), executor)

  assert len(local) == len(remote) == len(SUBMISSIONS) * 2
  assert [r.status for r in local + remote] == ['completed'] * len(local + remote), [r.reason for r in remote]
  assert [r.global_step for r in remote] == [STEPS] * len(remote)
  # Results come back in plan order, each read from its own folder.
  assert [os.path.relpath(r.trial_dir, ray_dir) for r in remote] == [
      os.path.relpath(r.trial_dir, local_dir) for r in local]

  local_folders, ray_folders = _trial_folders(local_dir), _trial_folders(ray_dir)
  assert len(local_folders) == len(local)
  assert ray_folders == local_folders  # The same trial folders, each with the same files.
  for trial in local_folders:
    for name in UNTIMED_FILES:
      assert _read_json(ray_dir / trial / name) == _read_json(local_dir / trial / name), (trial, name)
    local_status, ray_status = (_read_json(d / trial / 'status.json') for d in (local_dir, ray_dir))
    for key in ('status', 'global_step', 'reached_validation_target', 'target_metric'):
      assert ray_status[key] == local_status[key], (trial, key)
    local_rows, ray_rows = _metrics_by_step(local_dir / trial), _metrics_by_step(ray_dir / trial)
    common = set(local_rows) & set(ray_rows)
    assert {1, STEPS} <= common, (trial, sorted(local_rows), sorted(ray_rows))
    for step in sorted(common):
      assert ray_rows[step] == local_rows[step], (trial, step)

  # The premise that makes scores independent of wall time (see the module docstring).
  assert not any(r.reached_validation_target for r in local + remote)
  scores = {}
  for name, folder in (('local', local_dir), ('ray', ray_dir)):
    scoring = leaderboard.score(experiment_dir=layout.ruleset_dir(str(folder), 'external'), rules_version='v0.6',
                                ruleset='external', num_studies=1, num_trials=2)
    scores[name] = scoring.scores
  assert sorted(scores['ray']) == sorted(SUBMISSIONS)
  assert scores['ray'] == scores['local']

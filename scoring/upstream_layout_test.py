"""The benchmark's experiment folder (scoring/layout.py) read with upstream's folder rules
(scoring/upstream_reader.py), and with ours."""
import os
import pathlib

import numpy as np
import pytest

from scoring import example_experiment as ex
from scoring import layout
from scoring import leaderboard
from scoring import upstream_reader

TARGETS = {w.name: (w.metric, w.target, w.minimize) for w in ex.WORKLOADS}


def upstream_read(folder):
  return upstream_reader.read(str(folder), TARGETS)


def write_benchmark_like(root, frameworks_of, rulesets=('external', 'self'), num_studies=2, num_trials=2):
  """Trials in the benchmark's layout for each ruleset, and a leaderboard folder beside them."""
  workloads = ex.WORKLOADS[:2]
  for ruleset in rulesets:
    for sub, frameworks in frameworks_of.items():
      speed, miss_rate = ex.SUBMISSIONS[sub]
      for framework in frameworks:
        for study in range(num_studies):
          for workload in workloads:
            for trial in range(1, (num_trials if ruleset == 'external' else 1) + 1):
              rng = ex._rng(ruleset, sub, framework, study, workload.name, trial)  # pylint: disable=protected-access
              times, values = ex.curve(workload, speed[workload.name], bool(rng.uniform() < miss_rate), rng)
              trial_dir = pathlib.Path(layout.workload_dir(str(root), ruleset, sub, framework, frameworks, study,
                                                           workload.name)) / f'trial_{trial}'
              ex.write_trial(trial_dir, workload, times, values, 0)
    board = pathlib.Path(layout.leaderboard_dir(str(root), ruleset, rulesets))
    board.mkdir(parents=True, exist_ok=True)
    (board / 'scores.csv').write_text('submission,score\n')
  return root


FRAMEWORKS_OF = {'nadamw_baseline': ('jax', 'pytorch'), 'sgd_momentum': ('jax',)}


@pytest.fixture(scope='module')
def experiment(tmp_path_factory):
  return write_benchmark_like(tmp_path_factory.mktemp('bench'), FRAMEWORKS_OF)


def test_folders_are_where_the_layout_says(experiment):
  assert sorted(os.listdir(experiment)) == ['external_tuning', 'leaderboard', 'self_tuning']
  assert sorted(os.listdir(experiment / 'external_tuning')) == [
      'nadamw_baseline_jax', 'nadamw_baseline_pytorch', 'sgd_momentum']
  assert sorted(os.listdir(experiment / 'leaderboard')) == ['external_tuning', 'self_tuning']


@pytest.mark.parametrize('ruleset', ['external_tuning', 'self_tuning'])
def test_upstream_rules_read_each_ruleset_folder(experiment, ruleset):
  times = upstream_read(experiment / ruleset)
  assert sorted(times) == ['nadamw_baseline_jax', 'nadamw_baseline_pytorch', 'sgd_momentum']
  assert all(sorted(t) == ['criteo1tb', 'fastmri'] for t in times.values())
  # Our scorer, on the same folder with upstream's best-trial choice, gives the same medians, and pairs
  # the two framework folders of one submission as name[jax] / name[pytorch].
  ours = leaderboard.score(experiment_dir=experiment / ruleset, ruleset=ruleset.split('_')[0],
                           num_studies=2, num_trials=2 if ruleset == 'external_tuning' else 1,
                           best_trial_by='eval_index', enforce_budget=False)
  assert sorted(ours.table.submissions) == ['nadamw_baseline[jax]', 'nadamw_baseline[pytorch]', 'sgd_momentum']
  folder_of = {'nadamw_baseline[jax]': 'nadamw_baseline_jax', 'nadamw_baseline[pytorch]': 'nadamw_baseline_pytorch',
               'sgd_momentum': 'sgd_momentum'}
  for i, sub in enumerate(ours.table.submissions):
    for j, workload in enumerate(ours.table.workloads):
      assert ours.table.times[i, j] == pytest.approx(times[folder_of[sub]][workload], rel=1e-9), (sub, workload)
  assert np.isfinite(ours.table.times).any()  # The comparison covered real hits, not only misses.


def test_upstream_rules_fail_on_the_old_layout(tmp_path):
  """The reader is strict where upstream is: the leaderboard among the submissions, or both frameworks in
  one submission folder, fail (so the test above could fail)."""
  old = tmp_path / 'old'
  ex.write_example(old, workloads=ex.WORKLOADS[:1], num_studies=1, num_trials=1, framework='jax')
  ex.write_example(old, workloads=ex.WORKLOADS[:1], num_studies=1, num_trials=1, framework='pytorch')
  with pytest.raises(ValueError, match='duplicate entries'):
    upstream_read(old)
  board = tmp_path / 'board'
  ex.write_example(board, workloads=ex.WORKLOADS[:1], num_studies=1, num_trials=1)
  (board / 'leaderboard').mkdir()
  (board / 'leaderboard' / 'scores.csv').write_text('submission,score\n')
  with pytest.raises(NotADirectoryError):
    upstream_read(board)

"""The benchmark's experiment folder (scoring/layout.py) read with upstream's folder rules, and with ours.

`upstream_read` follows the rules of upstream's scorer (spec/harness.md §4.1-4.2), written here from those
facts: every entry of the directory it is given is a submission; inside one, every entry is a study, every
folder in a study is `<workload>_<framework>`, trials are `trial_<n>` folders holding eval_measurements.csv;
per submission, the trials are tabled by (workload without the framework, study, trial), and a duplicate
entry is an error (pandas' pivot: "Index contains duplicate entries"); a trial's time is the `score` at its
first eval that reaches the target (non-strict), the study keeps the trial with the smallest such eval
index, and the workload's time is the median over studies.
"""
import os
import pathlib
import re

import numpy as np
import pandas as pd
import pytest

from scoring import example_experiment as ex
from scoring import layout
from scoring import leaderboard

TRIAL = re.compile(r'^trial_\d+$')
WORKLOAD = re.compile(r'^(.*)_(jax|pytorch)$')
TARGETS = {w.name: w for w in ex.WORKLOADS}


def upstream_read(submission_directory):
  """{submission: {workload: median time}} under upstream's folder rules; raises where upstream fails."""
  results = {}
  for submission in os.listdir(submission_directory):
    rows = []
    sub_dir = os.path.join(submission_directory, submission)
    for study in os.listdir(sub_dir):  # A file here (a leaderboard's scores.csv) fails: not a folder.
      study_dir = os.path.join(sub_dir, study)
      for wl_folder in os.listdir(study_dir):
        if not os.path.isdir(os.path.join(study_dir, wl_folder)):
          continue
        for trial in filter(TRIAL.match, os.listdir(os.path.join(study_dir, wl_folder))):
          frame = pd.read_csv(os.path.join(study_dir, wl_folder, trial, 'eval_measurements.csv'))
          rows.append({'workload': WORKLOAD.match(wl_folder).group(1), 'study': study, 'trial': trial,
                       'frame': frame})
    table = pd.DataFrame(rows)
    table['n'] = range(len(table))
    table.pivot(index=['study', 'trial'], columns='workload', values='n')  # Duplicates raise, as upstream.
    results[submission] = {}
    for workload, group in table.groupby('workload'):
      spec = TARGETS[workload]
      study_times = []
      for _, study_group in group.groupby('study'):
        best_index, best_time = np.inf, np.inf
        for frame in study_group['frame']:
          values = frame[f'validation/{spec.metric}'].to_numpy()
          hit = values <= spec.target if spec.minimize else values >= spec.target
          if hit.any() and int(np.argmax(hit)) < best_index:
            best_index = int(np.argmax(hit))
            best_time = float(frame['score'].to_numpy()[best_index])
        study_times.append(best_time)
      results[submission][workload] = float(np.median(study_times))
  return results


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

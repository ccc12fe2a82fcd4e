"""Reading experiment folders (upstream's and ours) and bad input: one warning each, or an error."""
import math
import pathlib
import shutil

import pytest

from scoring import eval_logs
from scoring import example_experiment as ex
from scoring import leaderboard
from scoring import problems as P

TESTDATA = pathlib.Path(__file__).resolve().parent / 'testdata'
UPSTREAM = TESTDATA / 'upstream_experiment'
FASTMRI, WMT = ex.WORKLOADS[1], ex.WORKLOADS[3]
NEVER_MISS = {'a': ({'fastmri': 1.0, 'wmt': 1.0}, 0.0), 'b': ({'fastmri': 1.5, 'wmt': 1.5}, 0.0)}


def small(root, workloads=(FASTMRI,), submissions=NEVER_MISS, **kwargs):
  return ex.write_example(root, submissions=submissions, workloads=workloads, **kwargs)


def upstream_score(**kwargs):
  return leaderboard.score(experiment_dir=UPSTREAM, rules_version='v0.6', num_studies=1,
                           num_trials=2, **kwargs)


def test_upstream_layout_with_table_targets():
  scoring = upstream_score()
  assert scoring.warnings == []
  assert scoring.table.workloads == ['mnist']
  times = dict(zip(scoring.table.submissions, scoring.table.times[:, 0]))
  # adamw trial_2 reaches exactly 0.97 (non-strict) after 20 s; momentum's log has only `score`.
  assert times == {'adamw': 20.0, 'momentum': 45.0}
  assert scoring.scores['adamw'] == 1.0
  assert scoring.scores['momentum'] == pytest.approx(57.5 / 99)   # ratio 2.25, grid k = 42


def test_upstream_best_trial_by_eval_index():
  scoring = upstream_score(best_trial_by='eval_index')
  times = dict(zip(scoring.table.submissions, scoring.table.times[:, 0]))
  assert times == {'adamw': 30.0, 'momentum': 45.0}   # trial_1 hit at eval 2, trial_2 at eval 4
  assert scoring.scores['momentum'] == pytest.approx(5 / 6)


def test_a_single_submission_folder_and_foreign_folders(tmp_path):
  one = leaderboard.score(experiment_dir=UPSTREAM / 'adamw', num_studies=1, num_trials=2)
  assert one.table.submissions == ['adamw'] and one.scores == {'adamw': 1.0}
  root = small(tmp_path)
  (root / 'leaderboard').mkdir()      # e.g. the benchmark's output next to its runs
  (root / 'notes.txt').write_text('x')
  assert leaderboard.score(experiment_dir=root).table.submissions == ['a', 'b']


def test_rules_counts_apply_without_overrides():
  scoring = leaderboard.score(experiment_dir=UPSTREAM, rules_version='v0.6')
  # Per submission: 1 study instead of 3, 2 trials instead of 5.
  assert scoring.problems.kinds() == [P.COUNT] * 4
  assert all(math.isinf(t) for t in scoring.table.times[:, 0])   # median of [t, inf, inf]


def test_our_layout_uses_metadata_targets(tmp_path):
  scoring = leaderboard.score(experiment_dir=small(tmp_path))
  assert scoring.warnings == []
  assert scoring.targets['fastmri'].validation_target == FASTMRI.target   # not the published 0.7237
  assert scoring.table.submissions == ['a', 'b'] and scoring.scores['a'] == 1.0
  assert len(scoring.curves['fastmri']) == 2 * 3 * 5


def first_csv(root, submission='b', study=0, workload='fastmri', trial=1):
  return root / submission / f'study_{study}' / f'{workload}_jax' / f'trial_{trial}' / 'eval_measurements.csv'


def check_one_warning(root, kind, named, **kwargs):
  scoring = leaderboard.score(experiment_dir=root, **kwargs)
  assert scoring.problems.kinds() == [kind], scoring.warnings
  assert str(named) in scoring.warnings[0]
  with pytest.raises(P.ScoringError, match=str(named).replace('[', r'\[')):
    leaderboard.score(experiment_dir=root, strict=True, **kwargs)
  return scoring


def test_truncated_csv(tmp_path):
  root = small(tmp_path)
  path = first_csv(root)
  text = path.read_text()
  path.write_text(text[:len(text) - 25])     # cut inside the last row
  check_one_warning(root, P.TRUNCATED, path)


def test_nan_metrics(tmp_path):
  root = small(tmp_path)
  path = first_csv(root)
  lines = path.read_text().splitlines()
  for k in (3, 4):
    fields = lines[k].split(',')
    fields[1] = 'nan'
    lines[k] = ','.join(fields)
  path.write_text('\n'.join(lines) + '\n')
  scoring = check_one_warning(root, P.NAN, path)
  assert '2 of' in scoring.warnings[0]


def test_workload_missing_for_one_submission(tmp_path):
  root = small(tmp_path)
  small(root, workloads=(WMT,), submissions={'a': NEVER_MISS['a']})
  scoring = check_one_warning(root, P.MISSING, root / 'b')
  assert 'wmt' in scoring.warnings[0]
  b = scoring.table.submissions.index('b')
  assert math.isinf(scoring.table.times[b, scoring.table.workloads.index('wmt')])
  assert scoring.scores['b'] < scoring.scores['a']


def test_study_count_differs_from_the_rules(tmp_path):
  root = small(tmp_path)
  shutil.rmtree(root / 'b' / 'study_2')
  scoring = check_one_warning(root, P.COUNT, root / 'b')
  assert '2 studies' in scoring.warnings[0]
  # The rules' median over 3 studies with the missing one infinite: the larger of the two left.
  b = scoring.table.submissions.index('b')
  left = [r.time_sec for r in scoring.records if r.submission == 'b']
  assert scoring.table.times[b, 0] == max(left)


def test_missing_eval_file(tmp_path):
  root = small(tmp_path)
  first_csv(root).unlink()
  check_one_warning(root, P.MISSING, first_csv(root))


def test_a_completed_trial_without_evals_is_a_miss_without_a_warning(tmp_path):
  # The harness's trial that spent its budget before its first eval gate: status.json, no eval rows.
  root = small(tmp_path)
  missing = first_csv(root)
  missing.unlink()
  status = missing.parent / 'status.json'
  status.write_text('{"status": "completed", "global_step": 1}')
  assert leaderboard.score(experiment_dir=root, strict=True).warnings == []
  experiment = eval_logs.read_experiment(root, 'v0.6', P.Problems(strict=True))
  [trial] = [t for t in experiment.trials if t.directory == missing.parent]
  assert trial.times.size == 0  # Read, and never reaches the target.
  # A trial that failed (or whose status says nothing) before any eval still gets the warning.
  status.write_text('{"status": "failed", "reason": "killed by signal 9"}')
  check_one_warning(root, P.MISSING, missing)


def test_both_frameworks_are_two_rows_or_filtered(tmp_path):
  root = small(tmp_path)
  small(root, submissions={'a': NEVER_MISS['a']}, framework='pytorch')
  assert leaderboard.score(experiment_dir=root).table.submissions == ['a[jax]', 'a[pytorch]', 'b']
  assert leaderboard.score(experiment_dir=root, framework='pytorch').table.submissions == ['a', 'b']


def test_target_after_the_budget_is_a_miss(tmp_path):
  late = ex.ExampleWorkload('fastmri', 'ssim', False, 0.70, 20.0)   # budget 20 s, hits near 120 s
  root = small(tmp_path)
  for meta in root.glob('*/*/*/*/meta_data_0.json'):
    meta.write_text(meta.read_text().replace('"workload.max_allowed_runtime_sec": 300.0',
                                             f'"workload.max_allowed_runtime_sec": {late.budget}'))
  assert leaderboard.score(experiment_dir=root).scores == {'a': 0.0, 'b': 0.0}
  assert leaderboard.score(experiment_dir=root, enforce_budget=False).scores['a'] == 1.0


def test_self_tuning_budget_factor(tmp_path):
  root = small(tmp_path, num_trials=1)
  free = leaderboard.score(experiment_dir=root, ruleset='self', enforce_budget=False)
  hits = [r.time_sec for r in free.records if r.submission == 'a']
  budget = min(hits) / 1.1          # every hit of `a` comes after the budget, none after 3x it
  assert max(hits) <= 3 * budget
  for meta in root.glob('*/*/*/*/meta_data_0.json'):
    meta.write_text(meta.read_text().replace('300.0', repr(budget)))
  v05 = leaderboard.score(experiment_dir=root, ruleset='self', rules_version='v0.5', num_studies=3)
  assert v05.table.times[0, 0] == free.table.times[0, 0]     # 3 x budget: all hits count
  # v0.5 also wants fastmri's held-out variant, which this folder lacks: the base is then lost.
  assert v05.problems.kinds() == [P.MISSING] * 2 and 'fastmri_tanh' in v05.warnings[0]
  assert v05.scores == {'a': 0.0, 'b': 0.0}
  external = leaderboard.score(experiment_dir=root, num_trials=1)
  assert math.isinf(external.table.times[0, 0])


def test_unusable_input_is_one_clear_error(tmp_path):
  with pytest.raises(P.ScoringError, match='no such experiment folder'):
    leaderboard.score(experiment_dir=tmp_path / 'nope')
  with pytest.raises(P.ScoringError, match='found no trial folders to score'):
    leaderboard.score(experiment_dir=tmp_path)
  with pytest.raises(P.ScoringError, match='exactly one input'):
    leaderboard.score()
  with pytest.raises(P.ScoringError, match='unknown rules version'):
    leaderboard.score(experiment_dir=UPSTREAM, rules_version='v0.7')

"""The per-study-times path, on hand-made tables whose scores were computed on paper."""
import math
import pathlib

import pytest

from scoring import leaderboard
from scoring import problems as P

TESTDATA = pathlib.Path(__file__).resolve().parent / 'testdata'
V06 = TESTDATA / 'hand_v06_study_times.csv'
V05 = TESTDATA / 'hand_v05_study_times.csv'

# Paper values for hand_v06_study_times.csv (v0.6, 3 studies, 8 workloads). Per workload the score
# is 1 for ratio 1, (4 - r) / 3 for a ratio half-way between grid points (1.5: 5/6, 2.5: 1/2,
# 3.5: 1/6), 0.5/99 for exactly 4, 0 for inf; the submission's score is the mean over 8 workloads.
#            criteo fastmri resnet vit conformer deepspeech ogbg  wmt
# alpha        1      1      1/2    0     1         5/6       1    1/2   -> 35/6 / 8
# beta        5/6     1      1/6    0     0 (4.5x)   1        5/6   0    -> 23/6 / 8
# gamma      0 (inf)  5/6     1     0   1/198       1/6       1/6   1    -> 314/99 / 8
PAPER_V06 = {'alpha': 35 / 48, 'beta': 23 / 48, 'gamma': 157 / 396}
PAPER_MEDIANS = {
    ('alpha', 'criteo1tb'): 1100, ('beta', 'criteo1tb'): 1650, ('gamma', 'criteo1tb'): math.inf,
    ('alpha', 'ogbg'): 2000, ('beta', 'imagenet_vit'): math.inf, ('beta', 'fastmri'): 2000,
    ('beta', 'librispeech_conformer'): 45000, ('gamma', 'librispeech_conformer'): 40000,
}


def score(path, **kwargs):
  return leaderboard.score(study_times=path, **kwargs)


def test_hand_table_v06_matches_paper():
  scoring = score(V06, rules_version='v0.6')
  assert scoring.warnings == []
  assert scoring.scores == pytest.approx(PAPER_V06, abs=1e-12)
  assert [s for _, s, _ in scoring.result.ranking()] == ['alpha', 'beta', 'gamma']
  table = scoring.table
  for (sub, wl), expected in PAPER_MEDIANS.items():
    assert table.times[table.submissions.index(sub), table.workloads.index(wl)] == expected
  # The 4x rule: beta's 45000 s is 4.5x alpha's 10000 s; gamma's 40000 s is exactly 4x and stays.
  j = table.workloads.index('librispeech_conformer')
  assert math.isinf(scoring.result.scored_times[1, j]) and scoring.result.scored_times[2, j] == 40000


def test_hand_table_v05_gates_bases_by_their_variants():
  scoring = score(V05, rules_version='v0.5')
  assert scoring.warnings == []
  assert scoring.table.bases == ['fastmri', 'ogbg']
  assert scoring.table.workloads == ['fastmri', 'ogbg', 'fastmri_tanh', 'ogbg_model_size']
  # P missed fastmri_tanh, so its fastmri (1000 s, the fastest) is lost. P missed ogbg, so its
  # fast ogbg_model_size (500 s) is dropped before the 4x rule and Q's 2500 s variant survives.
  assert scoring.scores == {'P': 0.0, 'Q': 1.0}


def test_same_table_under_v06_ignores_the_variants():
  scoring = score(V05, rules_version='v0.6', num_studies=5)
  assert scoring.warnings == [] and scoring.table.ignored == ['fastmri_tanh', 'ogbg_model_size']
  # fastmri: P 1000 (1x), Q 1500 (1.5x: 5/6); ogbg: P inf, Q 3000 (1x).
  assert scoring.scores == pytest.approx({'P': 1 / 2, 'Q': (5 / 6 + 1) / 2})


def edited(tmp_path, edit):
  lines = V06.read_text().splitlines()
  path = tmp_path / 'study_times.csv'
  path.write_text('\n'.join(edit(lines)) + '\n')
  return path


def check_one_warning(path, kind, **kwargs):
  scoring = score(path, **kwargs)
  assert scoring.problems.kinds() == [kind], scoring.warnings
  assert str(path) in scoring.warnings[0]
  with pytest.raises(P.ScoringError, match=str(path)):
    score(path, strict=True, **kwargs)
  return scoring


def test_truncated_csv(tmp_path):
  path = edited(tmp_path, lambda lines: lines[:-1] + [lines[-1][:8]])   # 'gamma,wm'
  scoring = check_one_warning(path, P.TRUNCATED)
  assert scoring.scores == pytest.approx(PAPER_V06)   # gamma's wmt: median(10000, 10000, inf)


def test_nan_time(tmp_path):
  path = edited(tmp_path, lambda lines: [l.replace('alpha,criteo1tb,0,1000', 'alpha,criteo1tb,0,nan')
                                         for l in lines])
  scoring = check_one_warning(path, P.NAN)
  table = scoring.table
  assert table.times[0, table.workloads.index('criteo1tb')] == 1200   # median(inf, 1200, 1100)


def test_workload_missing_for_one_submission(tmp_path):
  path = edited(tmp_path, lambda lines: [l for l in lines if not l.startswith('beta,wmt,')])
  scoring = check_one_warning(path, P.MISSING)
  assert "'beta'" in scoring.warnings[0] and "'wmt'" in scoring.warnings[0]
  assert scoring.scores == pytest.approx(PAPER_V06)   # beta missed wmt anyway


def test_study_count_differs_from_the_rules(tmp_path):
  path = edited(tmp_path, lambda lines: [l for l in lines if l != 'alpha,ogbg,1,inf'])
  scoring = check_one_warning(path, P.COUNT)
  assert scoring.scores == pytest.approx(PAPER_V06)   # the missing study counts as inf, as before
  path = edited(tmp_path, lambda lines: lines + ['alpha,ogbg,3,1'])
  check_one_warning(path, P.COUNT)


def test_duplicate_rows(tmp_path):
  path = edited(tmp_path, lambda lines: lines + ['alpha,ogbg,1,5'])
  check_one_warning(path, P.DUPLICATE)


def test_unusable_csv_is_an_error_even_without_strict(tmp_path):
  path = tmp_path / 'bad.csv'
  path.write_text('submission,workload,seconds\nalpha,wmt,1\n')
  with pytest.raises(P.ScoringError, match='lacks the column'):
    score(path)
  with pytest.raises(P.ScoringError, match='cannot read'):
    score(tmp_path / 'absent.csv')


def test_budget_applies_to_published_workloads(tmp_path):
  # v0.6 fastmri budget is 4430 s: a 5000 s study time is a miss unless budgets are off.
  path = edited(tmp_path, lambda lines: [l.replace('gamma,fastmri,0,3000', 'gamma,fastmri,0,5000')
                                         .replace('gamma,fastmri,2,3100', 'gamma,fastmri,2,5000')
                                         for l in lines])
  j = 1   # fastmri
  assert math.isinf(score(path).table.times[2, j])
  assert score(path, enforce_budget=False).table.times[2, j] == 5000
  assert score(path, ruleset='self').table.times[2, j] == 5000   # 1.5 x 4430

"""The maths of the rules on cases small enough to do by hand."""
import math

import numpy as np
import pytest

from scoring import aggregate
from scoring import profiles
from scoring import rules as R
from scoring import time_to_target as ttt

INF = math.inf
GRID = profiles.taus()


def single_score(ratio):
  return float(profiles.score(profiles.profile(np.array([[ratio]]), GRID), GRID)[0])


# On the 100-point grid (step h = 3/99) a ratio r in (tau_{k-1}, tau_k] gives the area
# (4 - tau_k) + h/2: the trapezoid across the step counts half. Score = area / 3 = (99.5 - k) / 99.
# For r half-way between grid points this equals the exact integral (4 - r) / 3.
@pytest.mark.parametrize('ratio, expected', [
    (1.0, 1.0),            # fastest: rho = 1 on the whole grid
    (1.5, 5 / 6),          # half-way between grid points 16 and 17: k = 17
    (2.5, 1 / 2),          # k = 50
    (3.5, 1 / 6),          # k = 83
    (2.25, 57.5 / 99),     # tau_41 = 2.2424 < 2.25 <= tau_42 = 2.2727: k = 42
    (4.0, 0.5 / 99),       # only the last grid point counts: half a step
    (4.0001, 0.0),         # beyond tau_max
    (INF, 0.0),
])
def test_single_workload_integral(ratio, expected):
  assert single_score(ratio) == pytest.approx(expected, abs=1e-12)


def test_profile_counts_non_strictly_and_averages_workloads():
  r = np.array([[1.0, 2.5, INF, 1.5]])
  rho = profiles.profile(r, np.array([1.0, 1.5, 2.49, 2.5, 4.0]))
  np.testing.assert_allclose(rho[0], [0.25, 0.5, 0.5, 0.75, 0.75])
  # The score is the mean of the per-workload scores: (1 + 1/2 + 0 + 5/6) / 4.
  assert profiles.score(profiles.profile(r, GRID), GRID)[0] == pytest.approx((1 + 0.5 + 5 / 6) / 4)


def test_constant_profile_integrates_to_its_value():
  rho = np.full((1, len(GRID)), 0.375)
  assert profiles.score(rho, GRID)[0] == pytest.approx(0.375)


def test_ratios_ties_and_unreached_columns():
  t = np.array([[100.0, INF, 0.0, 7.0],
                [100.0, INF, 5.0, np.nan],
                [150.0, INF, INF, 14.0]])
  r = profiles.ratios(t)
  np.testing.assert_array_equal(r[:, 0], [1.0, 1.0, 1.5])    # a tie: both are the best
  assert np.all(np.isinf(r[:, 1]))                            # nobody reached it
  np.testing.assert_array_equal(r[:, 2], [1.0, INF, INF])     # best time 0
  np.testing.assert_array_equal(r[:, 3], [1.0, INF, 2.0])     # NaN counts as a miss


def test_four_x_rule_keeps_exactly_four_times_the_best():
  t = np.array([[100.0], [400.0], [400.0001], [INF]])
  np.testing.assert_array_equal(profiles.four_x_rule(t)[:, 0], [100.0, 400.0, INF, INF])


def test_median_over_studies_counts_infinity():
  assert ttt.workload_time([100, INF, INF], 3) == INF           # 2 of 3 missed
  assert ttt.workload_time([100, 300, INF], 3) == 300           # 1 of 3 missed
  assert ttt.workload_time([100, 200, INF, INF, 50], 5) == 200
  assert ttt.workload_time([100, 200, 300, INF], 4) == 250      # even count: mean of the middle two
  assert ttt.workload_time([100, 200, INF, INF], 4) == INF
  assert ttt.workload_time([100, 200], 3) == 200                # a missing study counts as inf
  assert ttt.workload_time([100], 3) == INF
  assert ttt.workload_time([100, np.nan, 50], 3) == 100         # NaN is a miss
  assert ttt.workload_time([], 3) == INF


COLUMNS = ['fastmri', 'ogbg', 'fastmri_tanh', 'ogbg_model_size']
VARIANTS = {'fastmri': 'fastmri_tanh', 'ogbg': 'ogbg_model_size'}


def gate(rows):
  return profiles.held_out_gating(np.array(rows, dtype=float), COLUMNS, VARIANTS, 4.0)


def test_variant_miss_removes_its_base():
  out = gate([[100, 100, INF, 100],
              [150, 100, 100, 100]])
  np.testing.assert_array_equal(out[:, 0], [INF, 150])   # fastmri of submission 0 gated
  np.testing.assert_array_equal(out[:, 1], [100, 100])


def test_base_miss_removes_its_variant_before_the_four_x_rule():
  # Submission 0 missed ogbg but was very fast on its variant. Gated first, it no longer sets the
  # best variant time, so submission 1 (600 s, 6x the 100 s but 1x the remaining best) survives.
  out = gate([[100, INF, 100, 100],
              [100, 700, 100, 600]])
  np.testing.assert_array_equal(out[:, 3], [INF, 600])
  np.testing.assert_array_equal(out[:, 1], [INF, 700])
  # Without the base-first step the 4x rule would have removed submission 1's variant, then base.
  naive = profiles.four_x_rule(np.array([[100.0], [600.0]]))
  assert naive[1, 0] == INF


def test_variant_over_four_x_removes_the_base():
  out = gate([[100, 100, 100, 100],
              [110, 100, 401, 100]])
  np.testing.assert_array_equal(out[:, 0], [100, INF])
  np.testing.assert_array_equal(out[:, 2], [100, INF])


def table(times, bases, variants=None, submissions=None):
  variants = variants or {}
  workloads = bases + [variants[b] for b in bases if b in variants]
  submissions = submissions or [f's{i}' for i in range(len(times))]
  return aggregate.TimeTable(submissions, bases, variants, workloads,
                             np.array(times, dtype=float), {}, [])


def test_submission_missing_every_workload_scores_zero():
  result = profiles.score_table(table([[100, 200], [INF, INF]], ['a', 'b']), R.get_rules('v0.6'))
  np.testing.assert_allclose(result.scores, [1.0, 0.0])
  assert result.ranking() == [(1, 's0', 1.0), (2, 's1', 0.0)]


def test_single_submission_scores_the_fraction_of_workloads_it_reached():
  result = profiles.score_table(table([[100, INF, 5, 7]], ['a', 'b', 'c', 'd']), R.get_rules('v0.6'))
  assert result.scores[0] == pytest.approx(0.75)


def test_equal_scores_share_a_rank():
  result = profiles.score_table(table([[100, 200], [200, 100], [INF, INF]], ['a', 'b']),
                                R.get_rules('v0.6'))
  assert [rank for rank, _, _ in result.ranking()] == [1, 1, 3]


def test_v05_table_scores_bases_only():
  t = table([[100, 100, INF], [150, 200, 100]], ['fastmri', 'wmt'], {'fastmri': 'fastmri_tanh'})
  result = profiles.score_table(t, R.get_rules('v0.5'))
  # Submission 0 lost fastmri to its variant; submission 1 is best there. wmt: 1 and 2 (ratio 2).
  np.testing.assert_array_equal(result.ratios, [[INF, 1.0], [1.0, 2.0]])
  assert result.ratios.shape == (2, 2)

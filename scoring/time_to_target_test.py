"""Per-trial and per-study rules: the first eval at the target, and the best trial of a study."""
import math

import pytest

from scoring import targets as T
from scoring import time_to_target as ttt

SSIM = T.Target('fastmri', 'fastmri', 'ssim', 0.72, minimize=False, max_runtime_sec=1000)
WER = T.Target('librispeech_conformer', 'librispeech_conformer', 'wer', 0.09, minimize=True)


def test_first_hit_is_non_strict_and_takes_the_first_eval():
  hit = ttt.first_hit([10, 20, 30, 40], [0.5, 0.72, 0.8, 0.9], SSIM)
  assert hit == ttt.Hit(1, 20.0)
  assert ttt.first_hit([10, 20, 30], [0.2, 0.09, 0.05], WER) == ttt.Hit(1, 20.0)


def test_nan_never_reaches_and_no_hit_is_none():
  assert ttt.first_hit([10, 20], [math.nan, 0.5], SSIM) is None
  assert ttt.first_hit([10, 20, 30], [math.nan, 0.7, 0.73], SSIM) == ttt.Hit(2, 30.0)
  assert ttt.first_hit([], [], SSIM) is None


def test_a_hit_after_the_budget_does_not_count():
  assert ttt.first_hit([900, 1001], [0.1, 0.9], SSIM, budget_sec=1000) is None
  assert ttt.first_hit([900, 1000], [0.1, 0.9], SSIM, budget_sec=1000) == ttt.Hit(1, 1000.0)


def test_best_trial_by_time_and_by_eval_index_differ():
  # Trial 0 reaches the target at its 4th eval after 900 s, trial 1 at its 6th after 700 s.
  hits = [ttt.Hit(3, 900.0), None, ttt.Hit(5, 700.0)]
  assert ttt.best_trial(hits, ttt.BY_TIME) == 2
  assert ttt.study_time(hits, ttt.BY_TIME) == 700.0
  assert ttt.best_trial(hits, ttt.BY_EVAL_INDEX) == 0      # upstream's choice
  assert ttt.study_time(hits, ttt.BY_EVAL_INDEX) == 900.0


def test_ties_go_to_the_earliest_trial_and_no_hit_is_infinite():
  assert ttt.best_trial([ttt.Hit(2, 50.0), ttt.Hit(2, 50.0)]) == 0
  assert ttt.best_trial([ttt.Hit(2, 60.0), ttt.Hit(2, 50.0)], ttt.BY_EVAL_INDEX) == 0
  assert ttt.study_time([None, None]) == math.inf
  with pytest.raises(ValueError):
    ttt.best_trial([], 'score')


def test_directions_follow_the_rules():
  for metric in ('ce_loss', 'error_rate', 'ctc_loss', 'wer', 'l1_loss', 'loss', 'validation/loss'):
    assert T.minimize_metric(metric)
  for metric in ('mean_average_precision', 'ssim', 'accuracy', 'bleu'):
    assert not T.minimize_metric(metric)


def test_published_tables_hold_the_v05_held_out_set_and_budgets():
  tanh = T.published('fastmri_tanh', 'v0.5')
  assert (tanh.base, tanh.metric, tanh.validation_target, tanh.minimize) == (
      'fastmri', 'ssim', 0.71784, False)
  assert tanh.max_runtime_sec == 8859 and T.published('fastmri', 'v0.6').max_runtime_sec == 4430
  assert T.published('criteo1tb_embed_init', 'v0.5').minimize
  assert T.published('no_such_workload', 'v0.6') is None


def test_metadata_targets_win_over_the_table():
  meta = {'workload.target_metric_name': 'ssim', 'workload.validation_target_value': 0.5,
          'workload.max_allowed_runtime_sec': 30}
  target = T.from_metadata('fastmri', meta, 'v0.6')
  assert (target.validation_target, target.max_runtime_sec, target.base) == (0.5, 30.0, 'fastmri')
  assert T.from_metadata('fastmri', {}, 'v0.6') == T.published('fastmri', 'v0.6')
  assert T.from_metadata('mystery', {}, 'v0.6') is None

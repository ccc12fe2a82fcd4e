"""Lite workloads take their targets, budget, eval period and step hint from lite_targets.json (set_targets)."""
import glob
import json
import math
import os

import pytest

from workloads import registry
from workloads.common import lite_targets

TARGETS = {'validation_target_value': 0.91, 'test_target_value': 0.9, 'max_allowed_runtime_sec': 12,
           'eval_period_time_sec': 0.25, 'step_hint': 2000}


def _write(folder, name, targets):
  os.makedirs(folder, exist_ok=True)
  with open(os.path.join(folder, name), 'w') as f:
    json.dump({'targets': targets, 'provenance': {'notes': []}}, f)


def test_lite_values_come_from_the_file(tmp_path, monkeypatch):
  monkeypatch.setattr(lite_targets, 'WORKLOADS_DIR', str(tmp_path))
  _write(tmp_path / 'mnist', 'lite_targets.json', dict(TARGETS, target_metric='accuracy'))
  w = registry.import_workload('mnist', 'pytorch', scale='lite')
  assert (w.validation_target_value, w.test_target_value, w.max_allowed_runtime_sec, w.eval_period_time_sec,
          w.step_hint) == (0.91, 0.9, 12, 0.25, 2000)
  assert w.has_reached_validation_target({'validation/accuracy': 0.92})
  full = registry.import_workload('mnist', 'pytorch', scale='full')  # Other scales ignore the file.
  assert full.validation_target_value == 0.97 and full.step_hint == 7_813


def test_a_missing_or_unfinished_file_is_an_error_naming_the_command(tmp_path, monkeypatch):
  monkeypatch.setattr(lite_targets, 'WORKLOADS_DIR', str(tmp_path))
  w = registry.import_workload('mnist', 'pytorch', scale='lite')  # Builds: model tests need no targets.
  assert w.num_train_examples == 7_000
  for name in ('validation_target_value', 'test_target_value', 'max_allowed_runtime_sec', 'eval_period_time_sec',
               'step_hint'):
    with pytest.raises(lite_targets.MissingLiteTargets,
                       match='bazelw run //tools:set_targets -- --workload=mnist --scale=lite'):
      getattr(w, name)
  _write(tmp_path / 'mnist', 'lite_targets.json', None)  # A stub or an interrupted protocol run.
  with pytest.raises(lite_targets.MissingLiteTargets, match='holds no targets yet.*--workload=mnist'):
    registry.import_workload('mnist', 'pytorch', scale='lite').step_hint


def test_hand_picked_values_are_used_until_the_protocol_runs_and_reported_as_provisional(tmp_path, monkeypatch):
  monkeypatch.setattr(lite_targets, 'WORKLOADS_DIR', str(tmp_path))
  os.makedirs(tmp_path / 'mnist')
  with open(tmp_path / 'mnist' / 'lite_targets.json', 'w') as f:
    json.dump({'targets': None, 'provisional': TARGETS, 'provenance': {'notes': ['by hand']}}, f)
  w = registry.import_workload('mnist', 'pytorch', scale='lite')
  assert w.provisional_targets and (w.validation_target_value, w.step_hint) == (0.91, 2000)
  _write(tmp_path / 'mnist', 'lite_targets.json', TARGETS)  # The protocol's values replace them.
  assert not registry.import_workload('mnist', 'pytorch', scale='lite').provisional_targets


def test_variants_use_their_own_file_or_the_base_scaled_by_the_published_ratio(tmp_path, monkeypatch):
  monkeypatch.setattr(lite_targets, 'WORKLOADS_DIR', str(tmp_path))
  _write(tmp_path / 'ogbg', 'lite_targets.json', dict(TARGETS, validation_target_value=0.7, test_target_value=0.6))
  gelu = registry.import_workload('ogbg_gelu', 'pytorch', scale='lite')
  # Published: ogbg 0.28098 / 0.268729, ogbg_gelu 0.27771 / 0.262926 (harness.md §3.3).
  assert gelu.validation_target_value == pytest.approx(0.7 * 0.27771 / 0.28098)
  assert gelu.test_target_value == pytest.approx(0.6 * 0.262926 / 0.268729)
  assert (gelu.max_allowed_runtime_sec, gelu.step_hint) == (12, 2000)
  _write(tmp_path / 'ogbg', 'lite_targets_ogbg_gelu.json', dict(TARGETS, validation_target_value=0.5))
  assert registry.import_workload('ogbg_gelu', 'pytorch', scale='lite').validation_target_value == 0.5
  # A loss (minimized) variant whose targets come from a property override (criteo's VARIANT_TARGETS).
  _write(tmp_path / 'criteo1tb', 'lite_targets.json', dict(TARGETS, validation_target_value=0.03,
                                                           test_target_value=0.035))
  layernorm = registry.import_workload('criteo1tb_layernorm', 'pytorch', scale='lite')
  assert layernorm.validation_target_value == pytest.approx(0.03 * 0.123757 / 0.123735)


def test_target_setting_runs_have_no_reachable_target_and_the_protocol_step_hint():
  kwargs = lite_targets.target_setting_kwargs(step_hint=150, eval_period_time_sec=0.5)
  w = registry.import_workload('criteo1tb', 'pytorch', scale='lite', **kwargs)  # loss: minimized.
  assert w.validation_target_value == -math.inf and w.step_hint == 150 and w.eval_period_time_sec == 0.5
  assert not w.has_reached_validation_target({'validation/loss': 0.0})
  w = registry.import_workload('mnist', 'pytorch', scale='lite', **kwargs)
  assert not w.has_reached_validation_target({'validation/accuracy': 1.0})


def test_the_shipped_files_are_what_the_lite_workloads_read():
  files = glob.glob(os.path.join(lite_targets.WORKLOADS_DIR, '*', 'lite_targets*.json'))
  assert files, 'the workloads ship their lite_targets.json files (BUILD data deps)'
  for path in files:
    with open(path) as f:
      record = json.load(f)
    key = record['workload']
    assert record['provenance']['notes'] is not None
    w = registry.import_workload(key, 'pytorch', scale='lite')
    if not record.get('targets'):  # Not reached by the protocol yet: the hand-picked values, flagged.
      assert w.provisional_targets
      for name in lite_targets.FIELDS:
        assert getattr(w, name) == record['provisional'][name], (path, name)
      continue
    assert not w.provisional_targets
    for name in lite_targets.FIELDS:
      assert getattr(w, name) == record['targets'][name], (path, name)
    assert len(record['runs']) == 4 * record['settings']['num_trials'] + record['settings']['num_seeds']

"""The target, budget, eval-period and step-hint derivation against hand-worked numbers (harness.md §5.2, §3.1)."""
import pytest

from tools.target_setting import derive


def _run(best_val, best_test, runtime, curve, eval_sec=0.2):
  return {'best_validation': best_val, 'best_test': best_test, 'submission_time': runtime, 'curve': curve,
          'eval_sec': eval_sec}


# Five re-runs of an accuracy workload (maximized). Sorted best validation: 0.90, 0.91, 0.92, 0.93, 0.95.
RERUNS = [
    _run(0.93, 0.905, 10.0, [[100, 2.0, 0.80, 0.79], [200, 4.0, 0.92, 0.90], [300, 6.0, 0.93, 0.905]]),
    _run(0.90, 0.95, 12.0, [[100, 3.0, 0.90, 0.95]]),
    _run(0.92, 0.91, 11.0, [[100, 3.0, 0.85, 0.84], [200, 5.0, 0.92, 0.91]]),
    _run(0.95, 0.89, 9.0, [[100, 1.0, 0.95, 0.89]]),
    _run(0.91, 0.99, 13.0, [[100, 2.5, 0.91, 0.99]]),
]


def test_targets_are_the_median_and_the_worst_test_among_reached():
  out = derive.derive(RERUNS, steps=300, minimized=False)
  t, d = out['targets'], out['derivation']
  assert t['validation_target_value'] == pytest.approx(0.92)  # The median of the five.
  # Reached (>= 0.92): 0.93, 0.92, 0.95, whose best tests are 0.905, 0.91, 0.89: the worst is 0.89. The runs
  # below the target (tests 0.95 and 0.99) do not count.
  assert t['test_target_value'] == pytest.approx(0.89) and d['num_reached_validation_target'] == 3
  assert t['max_allowed_runtime_sec'] == pytest.approx(14.7)  # 4/3 x the median runtime 11 s = 14.67, up to 0.1.
  assert t['step_hint'] == 400  # 300 / 0.75.
  # Times to target of the reached runs: 4.0 (first eval >= 0.92), 5.0, 1.0 -> median 4.0; cap 0.4 s. The
  # eval-cost period 0.2 x 0.85 / 0.15 = 1.133 s is larger, so the cap decides.
  assert d['median_rerun_time_to_target_sec'] == pytest.approx(4.0)
  assert t['eval_period_time_sec'] == pytest.approx(0.4)


def test_the_budget_is_four_thirds_of_the_runtime_rounded_up_to_a_tenth():
  assert derive.budget_sec(1.0742) == 1.5  # 1.4323 s: whole seconds would give 2 s, 40 % over.
  assert derive.budget_sec(1.125) == 1.5  # Exactly 1.5 s: no spurious extra tenth from float error.
  assert derive.budget_sec(5.3) == 7.1  # 7.0667 s.
  assert derive.budget_sec(450.0) == 600.0


def test_minimized_metric_and_the_eval_cost_period():
  # A loss: lower is better. Best values 0.30, 0.20, 0.25 -> median 0.25; reached: 0.20 and 0.25.
  reruns = [_run(0.30, 0.31, 100.0, [[1, 50.0, 0.30, 0.31]], eval_sec=1.5),
            _run(0.20, 0.24, 90.0, [[1, 60.0, 0.20, 0.24]], eval_sec=1.5),
            _run(0.25, 0.22, 80.0, [[1, 80.0, 0.25, 0.22]], eval_sec=1.5)]
  t = derive.derive(reruns, steps=30, minimized=True)['targets']
  assert t['validation_target_value'] == pytest.approx(0.25)
  assert t['test_target_value'] == pytest.approx(0.24)  # The worst (highest) test loss of the reached two.
  # Time to target: 60 and 80 -> 70, cap 7 s; the eval-cost period 1.5 x 0.85 / 0.15 = 8.5 s exceeds it.
  assert t['eval_period_time_sec'] == pytest.approx(7.0)
  reruns = [dict(r, eval_sec=0.3) for r in reruns]  # Cheaper evals: 0.3 x 0.85 / 0.15 = 1.7 s < 7 s.
  assert derive.derive(reruns, steps=30, minimized=True)['targets']['eval_period_time_sec'] == pytest.approx(1.7)


def test_no_test_split_uses_the_validation_target_and_best_run_skips_failures():
  reruns = [_run(0.5, None, 1.0, [[1, 0.5, 0.5, None]]), _run(0.6, None, 1.0, [[1, 0.5, 0.6, None]]),
            _run(0.7, None, 1.0, [[1, 0.5, 0.7, None]])]
  assert derive.derive(reruns, steps=3, minimized=False)['targets']['test_target_value'] == pytest.approx(0.6)
  runs = [{'best_validation': None}, {'best_validation': float('nan')}, {'best_validation': 0.4},
          {'best_validation': 0.6}]
  assert derive.best_run(runs, minimized=False)['best_validation'] == 0.6
  assert derive.best_run(runs, minimized=True)['best_validation'] == 0.4
  with pytest.raises(ValueError, match='finite validation value'):
    derive.best_run([{'best_validation': None}], minimized=False)


def test_summarize_curve_takes_best_values_and_seconds_per_eval_after_the_first():
  rows = [(1, {'validation/accuracy': 0.5, 'test/accuracy': 0.4, 'accumulated_submission_time': 0.1,
               'accumulated_eval_time': 2.0}),  # The first eval compiles: 2 s.
          (50, {'validation/accuracy': 0.8, 'test/accuracy': 0.7, 'accumulated_submission_time': 1.0,
                'accumulated_eval_time': 2.5}),
          (99, {'validation/accuracy': 0.7, 'test/accuracy': 0.75, 'accumulated_submission_time': 2.0,
                'accumulated_eval_time': 3.0})]
  out = derive.summarize_curve(rows, 'accuracy', minimized=False)
  assert out['best_validation'] == 0.8 and out['best_test'] == 0.75 and out['num_evals'] == 3
  assert out['eval_sec'] == pytest.approx(0.5)
  assert out['curve'][1] == [50, 1.0, 0.8, 0.7]


def test_busy_reruns_are_those_started_above_twice_the_cpu_count():
  reruns = {'rerun/seed_1': {'load_average_before': [12.65, 14.0, 12.4]},
            'rerun/seed_2': {'load_average_before': [4.0, 3.0, 2.0]},  # 2x of 2 CPUs: not above it
            'rerun/seed_3': {'load_average_before': [4.01, 1.0, 1.0]},
            'rerun/seed_4': {}}  # an older record without a load
  assert derive.busy_reruns(reruns, cpu_count=2) == ['rerun/seed_1', 'rerun/seed_3']
  assert derive.busy_reruns(reruns, cpu_count=4) == ['rerun/seed_1']
  assert derive.busy_reruns(reruns, cpu_count=8) == []


def _probe(jax_sec, pytorch_sec):
  return {'jax': {'submission_time': jax_sec, 'reason': None},
          'pytorch': {'submission_time': pytorch_sec, 'reason': 'crashed' if pytorch_sec is None else None}}


def test_the_protocol_framework_is_the_slower_and_a_faster_one_stands_within_a_tenth():
  assert derive.slower_framework(_probe(1.6, 3.4)) == 'pytorch'  # MNIST lite's probes, stop 30.
  assert derive.slower_framework(_probe(52.4, 19.7)) == 'jax'  # CIFAR lite's.
  assert derive.framework_stands('pytorch', _probe(1.6, 3.4))
  assert not derive.framework_stands('jax', _probe(1.6, 3.4))  # PyTorch took 2.1x as long.
  assert derive.framework_stands('pytorch', _probe(5.49, 5.09))  # fastMRI: JAX 1.08x, within the tolerance.
  assert not derive.framework_stands('pytorch', _probe(5.7, 5.09))  # 1.12x.
  with pytest.raises(ValueError, match='the pytorch probe run did not complete \\(crashed\\)'):
    derive.slower_framework(_probe(1.0, None))


def test_every_committed_probe_admits_its_files_framework():
  """Every protocol file's validation target beats an empty prediction, and one that records a framework probe
  was set in a framework the probe lets stand."""
  import glob  # pylint: disable=import-outside-toplevel
  import json  # pylint: disable=import-outside-toplevel
  import os  # pylint: disable=import-outside-toplevel
  root = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'workloads')
  probed = 0
  for path in sorted(glob.glob(os.path.join(root, '*', 'lite_targets*.json'))):
    with open(path) as f:
      record = json.load(f)
    targets = record.get('targets')
    if targets is None:
      continue
    assert derive.trivial_target(targets['target_metric'], targets['validation_target_value'],
                                 targets['minimized']) is None, path
    probe = record.get('framework_probe')
    if probe is None:
      continue
    probed += 1
    assert probe['settings']['steps'] == record['settings']['steps'], path
    assert probe['chosen'] == derive.slower_framework(probe['runs']), path
    assert derive.framework_stands(record['settings']['framework'], probe['runs']), path
  assert probed >= 3  # MNIST, Criteo and OGBG at least (stop 30).


def test_a_wer_target_an_empty_transcript_reaches_is_refused():
  # An empty transcript deletes every reference word: WER 1.0, the CTC plateau.
  assert 'an untrained model would reach it' in derive.trivial_target('wer', 1.0, True)
  assert derive.trivial_target('wer', 1.2, True) is not None
  assert derive.trivial_target('wer', 0.9655, True) is None
  assert derive.trivial_target('accuracy', 0.1, False) is None  # No known empty-prediction value.

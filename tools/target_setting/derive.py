"""From the target-setting runs to the lite targets, budget, eval period and step hint (harness.md §3.1, §5.2).

Pure functions of the runs' records (tools/set_targets.py writes them), so that tests pin them on hand-worked
numbers. A run record has 'best_validation', 'best_test' (None without a test split), 'submission_time' (at the
end of the step budget), 'eval_sec' (mean seconds per eval) and 'curve' ([step, submission_time, validation,
test] per eval).

- Best configuration: the search run with the best validation value over all algorithms.
- Validation target: the median of the re-runs' best validation values (the protocol's "median best").
- Reached: a re-run whose best validation value is at least as good as the target (non-strict, as the
  scorer compares; with an odd number of re-runs the median run itself reaches it).
- Test target: the worst best test value among the re-runs that reached the validation target.
- Budget: BUDGET_FACTOR (4/3) x the median re-run runtime (submission time of the whole step budget): v0.5's
  max_runtime was 4/3 of the target-setting runtime (§3.1 notes). v0.6 rescaled the budgets by per-workload
  factors measured on other hardware, which no lite run can reproduce, so the v0.5 relation is the one used.
  Rounded up to BUDGET_RESOLUTION_SEC (0.1 s): the published budgets are whole seconds of runs that take hours,
  but whole seconds would stretch a lite budget of 1-8 s by up to 40 % past 4/3 (Criteo: 1.43 s -> 2 s).
- Step hint: the step budget / 0.75, since the target-setting runs of the rules ran 0.75 x step_hint steps
  (the *_target_setting baselines, §3.1 notes): budget and step hint then both describe 4/3 of a
  target-setting run.
- Eval period: the rules chose periods so that evals cost about 10-20 % of the target-setting runtime (§3.1
  notes); we take EVAL_COST_FRACTION = 15 %: period = eval_sec x (1 - f) / f, so eval / (period + eval) = f.
  It is capped at a tenth of the median re-run time to target (issue 17: at least ten evals before the target,
  so the eval period does not decide the score), and floored at MIN_EVAL_PERIOD_SEC.
- Framework: the one whose probe run (the same configuration and step budget in each) took more submission
  time, so that the budget admits both (tools/set_targets.py, step 0). A file set in the other stands while the
  slower one took at most FRAMEWORK_TOLERANCE times as long.
"""
import math
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

FRAMEWORKS = ('jax', 'pytorch')
# At most 1.1x: the budget is 4/3 of the setting framework's re-run runtime, which still leaves the other over a
# fifth to spare, and the probes of stop 30 differed by 5-10 % where the frameworks are at par (ResNet 4.9 %,
# fastMRI 8 % before its speed-up, Criteo 9.8 %): too little to be sure which is slower on a shared 2-core
# machine, and not worth a new protocol run.
FRAMEWORK_TOLERANCE = 1.1
BUDGET_FACTOR = 4.0 / 3.0
BUDGET_RESOLUTION_SEC = 0.1
TARGET_SETTING_STEP_FRACTION = 0.75
EVAL_COST_FRACTION = 0.15
MIN_EVAL_PERIOD_SEC = 0.05
# Values a model scores by predicting nothing: an empty transcript has WER 1.0 (every reference word deleted),
# the plateau a CTC model sits on before it learns to emit words. A target no better than this would be reached
# by an untrained model's blank output, so the protocol refuses it.
EMPTY_PREDICTION_VALUES = {'wer': 1.0}


def is_better(a: float, b: float, minimized: bool) -> bool:
  return a < b if minimized else a > b


def reaches(value: Optional[float], target: float, minimized: bool) -> bool:
  if value is None or not math.isfinite(value):
    return False
  return value <= target if minimized else value >= target


def trivial_target(metric: str, target: float, minimized: bool) -> Optional[str]:
  """One sentence when `target` is no better than what an empty prediction scores on `metric`; else None."""
  empty = EMPTY_PREDICTION_VALUES.get(metric)
  if empty is None or is_better(target, empty, minimized):
    return None
  return (f'the validation target {metric} {target:.6g} is no better than the {empty:g} an empty prediction '
          'scores, so an untrained model would reach it: the step budget is too short for this workload')


def best_run(runs: Sequence[Dict[str, Any]], minimized: bool) -> Dict[str, Any]:
  """The run with the best validation value (runs without a finite one are skipped)."""
  usable = [r for r in runs if r.get('best_validation') is not None and math.isfinite(r['best_validation'])]
  if not usable:
    raise ValueError('No target-setting run produced a finite validation value; see the runs\' trial.log files '
                     'and try a larger --steps or another --eval_period_sec.')
  return sorted(usable, key=lambda r: r['best_validation'], reverse=not minimized)[0]


def validation_target(reruns: Sequence[Dict[str, Any]]) -> float:
  values = [r['best_validation'] for r in reruns]
  if not values or not all(v is not None and math.isfinite(v) for v in values):
    raise ValueError(f'Every re-run needs a finite best validation value; got {values}.')
  return float(np.median(values))


def test_target(reruns: Sequence[Dict[str, Any]], val_target: float, minimized: bool) -> Optional[float]:
  """The worst best test value among the re-runs that reached the validation target (None: no test split)."""
  tests = [r['best_test'] for r in reruns if reaches(r['best_validation'], val_target, minimized)]
  if not tests or any(t is None for t in tests):
    return None
  return float(max(tests) if minimized else min(tests))


def time_to_target(run: Dict[str, Any], val_target: float, minimized: bool) -> Optional[float]:
  """Submission time of the run's first eval at or past the validation target (None if never)."""
  for _, submission_time, validation, _ in run['curve']:
    if reaches(validation, val_target, minimized):
      return float(submission_time)
  return None


def budget_sec(median_runtime_sec: float) -> float:
  """4/3 of the median re-run runtime, rounded up to BUDGET_RESOLUTION_SEC."""
  tenths = round(BUDGET_FACTOR * median_runtime_sec / BUDGET_RESOLUTION_SEC, 6)  # 1.5 stays 15 tenths, not 16.
  return round(math.ceil(tenths) * BUDGET_RESOLUTION_SEC, 3)


def derive(reruns: Sequence[Dict[str, Any]], steps: int, minimized: bool) -> Dict[str, Any]:
  """The lite_targets.json 'targets' and 'derivation' objects from the re-runs of the best configuration."""
  val = validation_target(reruns)
  test = test_target(reruns, val, minimized)
  reached = [r for r in reruns if reaches(r['best_validation'], val, minimized)]
  runtime = float(np.median([r['submission_time'] for r in reruns]))
  times = [t for t in (time_to_target(r, val, minimized) for r in reached) if t is not None]
  median_time_to_target = float(np.median(times)) if times else runtime
  eval_sec = float(np.median([r['eval_sec'] for r in reruns]))
  period_for_cost = eval_sec * (1.0 - EVAL_COST_FRACTION) / EVAL_COST_FRACTION
  period_cap = median_time_to_target / 10.0
  period = round(max(min(period_for_cost, period_cap), MIN_EVAL_PERIOD_SEC), 3)
  targets = {
      'validation_target_value': val,
      'test_target_value': val if test is None else test,
      'max_allowed_runtime_sec': budget_sec(runtime),
      'eval_period_time_sec': period,
      'step_hint': int(round(steps / TARGET_SETTING_STEP_FRACTION)),
  }
  derivation = {
      'num_reruns': len(reruns), 'num_reached_validation_target': len(reached),
      'median_rerun_runtime_sec': runtime, 'median_rerun_time_to_target_sec': median_time_to_target,
      'median_eval_sec': eval_sec, 'eval_period_for_15pct_eval_cost_sec': period_for_cost,
      'eval_period_cap_tenth_of_time_to_target_sec': period_cap,
      'eval_cost_fraction_at_period': eval_sec / (period + eval_sec) if period + eval_sec > 0 else 0.0,
      'test_target_from': 'validation target (no test split)' if test is None else
                          'worst best-test value among the re-runs that reached the validation target',
      'relations': {
          'validation_target_value': 'median of the re-runs\' best validation values',
          'max_allowed_runtime_sec': f'{BUDGET_FACTOR:.4f} x median re-run runtime, rounded up to '
                                     f'{BUDGET_RESOLUTION_SEC} s (v0.5: budget = 4/3 x target-setting runtime)',
          'step_hint': f'round(steps / {TARGET_SETTING_STEP_FRACTION}) (target-setting runs use 0.75 x step_hint)',
          'eval_period_time_sec': f'min(eval_sec x (1 - {EVAL_COST_FRACTION}) / {EVAL_COST_FRACTION}, median time '
                                  f'to target / 10), at least {MIN_EVAL_PERIOD_SEC}',
      },
  }
  return {'targets': targets, 'derivation': derivation}


# A re-run timed while the load average exceeds this many times the CPU count shared the machine with other
# jobs (the protocol alone keeps it near 1-1.5x on 2 CPUs: XLA's and the input pipeline's threads), so the budget
# it sets is too large (stop 27: OGBG and fastMRI budgets set at load 7-14 were 2-5x their quiet runtime).
BUSY_LOAD_FACTOR = 2.0


def busy_reruns(reruns: Dict[str, Dict[str, Any]], cpu_count: int) -> List[str]:
  """The re-runs (by id) that started on a busy machine, judged by their recorded 1-minute load average."""
  return sorted(run_id for run_id, run in reruns.items()
                if (run.get('load_average_before') or [0.0])[0] > BUSY_LOAD_FACTOR * max(1, cpu_count))


def summarize_curve(rows: List, metric: str, minimized: bool) -> Dict[str, Any]:
  """A run record's eval part from its (global_step, metrics) rows: best values, curve, seconds per eval."""
  curve, evals = [], 0
  for step, m in rows:
    val = m.get(f'validation/{metric}')
    if not isinstance(val, float):
      continue
    test = m.get(f'test/{metric}')
    curve.append([int(step), float(m.get('accumulated_submission_time', m.get('score', 0.0))), val,
                  test if isinstance(test, float) else None])
    evals += 1
  # Seconds per eval after the first (the first one compiles the eval step), or the first's when alone.
  times = [m.get('accumulated_eval_time') for _, m in rows if isinstance(m.get('accumulated_eval_time'), float)]
  eval_sec = (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else (times[0] if times else 0.0)
  pick = min if minimized else max
  vals = [c[2] for c in curve if math.isfinite(c[2])]
  tests = [c[3] for c in curve if c[3] is not None and math.isfinite(c[3])]
  return {'best_validation': pick(vals) if vals else None, 'best_test': pick(tests) if tests else None,
          'curve': curve, 'num_evals': evals,
          'eval_sec': float(eval_sec)}


def slower_framework(probe_runs: Dict[str, Dict[str, Any]]) -> str:
  """The framework whose probe run took more submission time; ValueError naming a probe that did not complete."""
  failed = [fw for fw in FRAMEWORKS if probe_runs[fw]['submission_time'] is None]
  if failed:
    raise ValueError(f'the {" and ".join(failed)} probe run did not complete ({probe_runs[failed[0]]["reason"]}), '
                     'so the frameworks cannot be compared; fix that run (its trial.log is under the experiment '
                     'folder) or name the framework with --framework.')
  return max(FRAMEWORKS, key=lambda fw: probe_runs[fw]['submission_time'])


def framework_stands(set_in: str, probe_runs: Dict[str, Dict[str, Any]]) -> bool:
  """Whether targets set in `set_in` admit the other framework: it is the slower, or the other is at most
  FRAMEWORK_TOLERANCE times slower."""
  slower = slower_framework(probe_runs)
  return (set_in == slower or
          probe_runs[slower]['submission_time'] <= FRAMEWORK_TOLERANCE * probe_runs[set_in]['submission_time'])

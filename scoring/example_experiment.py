"""A small synthetic experiment folder in the runner's layout, for tests, demos and the screenshot.

Curves are made up (saturating exponentials with noise), not trained; each trial folder gets
eval_measurements.csv with upstream's columns and a meta_data_0.json that carries reduced-scale
targets, as our runner writes them.
"""
import collections
import csv
import json
import math
import pathlib
import zlib

import numpy as np

ExampleWorkload = collections.namedtuple('ExampleWorkload', 'name metric minimize target budget')

WORKLOADS = (
    ExampleWorkload('criteo1tb', 'loss', True, 0.13, 400.0),
    ExampleWorkload('fastmri', 'ssim', False, 0.70, 300.0),
    ExampleWorkload('ogbg', 'mean_average_precision', False, 0.20, 600.0),
    ExampleWorkload('wmt', 'bleu', False, 20.0, 900.0),
)
# Submission -> (relative time to target per workload (lower is faster), chance that a trial misses).
SUBMISSIONS = {
    'nadamw_baseline': ({'criteo1tb': 1.0, 'fastmri': 1.0, 'ogbg': 1.0, 'wmt': 1.0}, 0.2),
    'shampoo_like': ({'criteo1tb': 0.7, 'fastmri': 1.4, 'ogbg': 0.6, 'wmt': 0.8}, 0.25),
    'sgd_momentum': ({'criteo1tb': 1.6, 'fastmri': 2.2, 'ogbg': 1.5, 'wmt': 3.0}, 0.35),
}
_EVALS_PER_BUDGET = 20

_COLUMNS_AFTER_METRICS = ('score', 'total_duration', 'accumulated_submission_time',
                          'accumulated_eval_time', 'accumulated_logging_time', 'global_step',
                          'preemption_count')


def _rng(*keys):
  return np.random.default_rng(zlib.crc32('/'.join(map(str, keys)).encode()))


def curve(workload, speed, miss, rng):
  """(times, values) of one trial: it reaches the target near speed x 40% of the budget, unless it misses."""
  t_hit = speed * 0.4 * workload.budget * float(rng.lognormal(0.0, 0.25))
  margin = 0.08
  period = workload.budget / _EVALS_PER_BUDGET
  times = np.cumsum(period * rng.uniform(0.9, 1.1, size=_EVALS_PER_BUDGET + 2))
  times = times[times <= workload.budget]
  target = workload.target
  if workload.minimize:
    start = 3.0 * target
    floor = target * (1 + 0.03) if miss else target * (1 - margin)
    scale = t_hit / math.log((start - target * (1 - margin)) / (target * margin))
    values = floor + (start - floor) * np.exp(-times / scale)
  else:
    ceiling = target * (1 - 0.03) if miss else target * (1 + margin)
    scale = t_hit / math.log((1 + margin) / margin)
    values = ceiling * (1 - np.exp(-times / scale))
  values = values * (1 + rng.normal(0.0, 0.004, size=values.shape))
  return times, values


def write_trial(trial_dir, workload, times, values, seed):
  trial_dir.mkdir(parents=True, exist_ok=True)
  metric = workload.metric
  header = [f'train/{metric}', f'validation/{metric}', f'test/{metric}'] + list(_COLUMNS_AFTER_METRICS)
  with open(trial_dir / 'eval_measurements.csv', 'w', newline='') as f:
    writer = csv.writer(f, lineterminator='\n')
    writer.writerow(header)
    for k, (t, v) in enumerate(zip(times, values)):
      writer.writerow([repr(float(v)), repr(float(v)), repr(float(v)), repr(float(t)),
                       repr(float(t * 1.3)), repr(float(t)), repr(float(t * 0.3)), '0.0',
                       str(50 * (k + 1)), '0'])
  meta = {
      'workload.target_metric_name': metric,
      'workload.validation_target_value': workload.target,
      'workload.test_target_value': workload.target,
      'workload.max_allowed_runtime_sec': workload.budget,
      'rng_seed': seed,
  }
  (trial_dir / 'meta_data_0.json').write_text(json.dumps(meta, indent=1))
  (trial_dir / 'hparams.json').write_text(json.dumps({'learning_rate': 1e-3}))


def write_example(root, submissions=None, workloads=WORKLOADS, num_studies=3, num_trials=5,
                  framework='jax', seed=0):
  """Write <root>/<submission>/study_<k>/<workload>_<framework>/trial_<i>/ and return root."""
  root = pathlib.Path(root)
  for sub, (speed, miss_rate) in (submissions or SUBMISSIONS).items():
    for study in range(num_studies):
      for workload in workloads:
        for trial in range(1, num_trials + 1):
          rng = _rng(seed, sub, study, workload.name, trial)
          miss = bool(rng.uniform() < miss_rate)
          times, values = curve(workload, speed.get(workload.name, 1.0), miss, rng)
          trial_dir = root / sub / f'study_{study}' / f'{workload.name}_{framework}' / f'trial_{trial}'
          write_trial(trial_dir, workload, times, values, int(rng.integers(2**31)))
  return root

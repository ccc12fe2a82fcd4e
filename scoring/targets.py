"""Validation targets, budgets and metric directions: from a trial's metadata or the frozen tables."""
import dataclasses
import functools
import json
import math
import pathlib

from scoring.problems import ScoringError

_TABLE_DIR = pathlib.Path(__file__).resolve().parent / 'targets'

MINIMIZED = frozenset(['ce_loss', 'error_rate', 'ctc_loss', 'wer', 'l1_loss', 'loss'])
MAXIMIZED = frozenset(['mean_average_precision', 'ssim', 'accuracy', 'bleu'])


@dataclasses.dataclass(frozen=True)
class Target:
  """What a trial must reach on the validation split, and by when."""
  workload: str
  base: str
  metric: str
  validation_target: float
  minimize: bool
  max_runtime_sec: float = math.inf
  test_target: float = math.nan

  def reached(self, value):
    """Non-strict comparison, as the scorer has always done (the runner's early stop is strict)."""
    if self.minimize:
      return value <= self.validation_target
    return value >= self.validation_target


def minimize_metric(metric):
  """True when lower is better; the rules list the metric names of every workload."""
  name = metric.split('/')[-1]
  if name in MINIMIZED:
    return True
  if name in MAXIMIZED:
    return False
  raise ScoringError(f'unknown target metric {metric!r}: cannot tell whether to minimise it; '
                     f'known: {", ".join(sorted(MINIMIZED | MAXIMIZED))}')


@functools.lru_cache(maxsize=None)
def _table(version):
  path = _TABLE_DIR / f'{version}.json'
  if not path.exists():
    raise ScoringError(f'no target table for rules version {version!r} at {path}')
  with open(path) as f:
    return json.load(f)['workloads']


def table_workloads(version):
  return dict(_table(version))


def published(workload, version):
  """The published target of a registry workload name, or None when the table does not know it."""
  entry = _table(version).get(workload)
  if entry is None:
    return None
  return Target(
      workload=workload, base=entry['base'], metric=entry['metric'],
      validation_target=float(entry['validation_target']),
      minimize=entry['direction'] == 'minimize',
      max_runtime_sec=float(entry['max_runtime_sec']),
      test_target=float(entry['test_target']))


def base_workload(workload, version):
  """Registry base of a workload; names the table does not know are their own base."""
  entry = _table(version).get(workload)
  return entry['base'] if entry else workload


def from_metadata(workload, meta, version):
  """Target from a runner's meta_data_0.json (`workload.<property>` keys); table values fill gaps.

  Our reduced-scale workloads set their own targets, so the metadata wins over the table.
  """
  flat = dict(meta)
  nested = meta.get('workload')
  if isinstance(nested, dict):
    flat.update({f'workload.{k}': v for k, v in nested.items()})
  metric = flat.get('workload.target_metric_name')
  value = flat.get('workload.validation_target_value')
  table = published(workload, version)
  if metric is None or value is None:
    return table
  budget = flat.get('workload.max_allowed_runtime_sec')
  if budget is None:
    budget = table.max_runtime_sec if table else math.inf
  test = flat.get('workload.test_target_value')
  return Target(
      workload=workload, base=base_workload(workload, version), metric=str(metric),
      validation_target=float(value), minimize=minimize_metric(str(metric)),
      max_runtime_sec=float(budget), test_target=math.nan if test is None else float(test))

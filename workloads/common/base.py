"""The framework-neutral part every workload shares: scales, rules versions, targets and the eval loop.

A workload is built at one of three scales of the same code (DESIGN.md): `full` (the published sizes,
targets and budgets), `lite` (a CPU-sized member of the same family on the small real data that
tools:make_datasets builds; our own provisional targets) and `smoke` (tiny, for unit tests). The rules
version picks the budget and step hint (v0.6 default; v0.5 for the published leaderboard).
"""
import dataclasses
from typing import Any, Dict, Iterator, Mapping, Optional

import numpy as np

from algoperf import spec

SCALES = ('full', 'lite', 'smoke')
RULES_VERSIONS = ('v0.5', 'v0.6')


@dataclasses.dataclass(frozen=True)
class ScaleConfig:
  """Everything that changes between the full, lite and smoke scale of one workload."""
  num_train_examples: int
  num_validation_examples: int
  num_test_examples: Optional[int]
  eval_batch_size: int
  validation_target_value: float
  test_target_value: float
  max_allowed_runtime_sec: int
  eval_period_time_sec: int
  step_hint: int
  num_eval_train_examples: Optional[int] = None  # Defaults to num_validation_examples.
  # v0.5 had other budgets and step hints for some workloads (spec/harness.md §3.1).
  max_allowed_runtime_sec_v05: Optional[int] = None
  step_hint_v05: Optional[int] = None
  # The runner divides the submission's batch size by this at reduced scales (CPU-sized steps); the same
  # for every submission, so relative comparisons keep their meaning.
  batch_size_divisor: int = 1
  # Our own targets (lite, smoke) are provisional until set with the target-setting protocol.
  provisional_targets: bool = False
  model: Mapping[str, Any] = dataclasses.field(default_factory=dict)


class ScaledWorkload(spec.Workload):
  """A Workload whose sizes, targets and budgets come from `SCALES[scale]`.

  Subclasses set `SCALES`, `target_metric_name`, `target_metric_minimized`, `loss_type`, and implement
  the framework parts (`init_model_fn`, `model_fn`, `loss_fn`, `_eval_batch`, `_build_input_queue`).
  """
  SCALES: Dict[str, ScaleConfig] = {}
  target_metric_minimized: bool = False

  def __init__(self, scale: str = 'full', rules_version: str = 'v0.6', **kwargs) -> None:
    super().__init__(**kwargs)
    if scale not in self.SCALES:
      raise ValueError(f'Unknown scale {scale!r} for {type(self).__name__}; use one of '
                       f'{", ".join(self.SCALES)}.')
    if rules_version not in RULES_VERSIONS:
      raise ValueError(f'Unknown rules version {rules_version!r}; use one of {", ".join(RULES_VERSIONS)}.')
    self.scale = scale
    self.rules_version = rules_version
    self.config = self.SCALES[scale]

  # Targets and sizes -----------------------------------------------------------------------------

  @property
  def validation_target_value(self) -> float:
    return self.config.validation_target_value

  @property
  def test_target_value(self) -> float:
    return self.config.test_target_value

  @property
  def num_train_examples(self) -> int:
    return self.config.num_train_examples

  @property
  def num_validation_examples(self) -> int:
    return self.config.num_validation_examples

  @property
  def num_test_examples(self) -> Optional[int]:
    return self.config.num_test_examples

  @property
  def num_eval_train_examples(self) -> int:
    return self.config.num_eval_train_examples or self.config.num_validation_examples

  @property
  def eval_batch_size(self) -> int:
    return self.config.eval_batch_size

  @property
  def max_allowed_runtime_sec(self) -> int:
    if self.rules_version == 'v0.5' and self.config.max_allowed_runtime_sec_v05:
      return self.config.max_allowed_runtime_sec_v05
    return self.config.max_allowed_runtime_sec

  @property
  def eval_period_time_sec(self) -> int:
    return self.config.eval_period_time_sec

  @property
  def step_hint(self) -> int:
    if self.rules_version == 'v0.5' and self.config.step_hint_v05:
      return self.config.step_hint_v05
    return self.config.step_hint

  def scaled_batch_size(self, submission_batch_size: int) -> int:
    return max(1, submission_batch_size // self.config.batch_size_divisor)

  @property
  def provisional_targets(self) -> bool:
    return self.config.provisional_targets

  @property
  def train_mean(self):
    raise NotImplementedError

  @property
  def train_stddev(self):
    raise NotImplementedError

  def check_data(self, data_dir: str) -> None:
    """Raises FileNotFoundError/ValueError naming the fix when `data_dir` lacks this workload's data."""
    del data_dir

  # Targets: strict comparisons, as upstream's runner (the scorer is non-strict) --------------------

  def _reached(self, value: float, target: float) -> bool:
    return value < target if self.target_metric_minimized else value > target

  def has_reached_validation_target(self, eval_result: Dict[str, float]) -> bool:
    return self._reached(eval_result[f'validation/{self.target_metric_name}'], self.validation_target_value)

  def has_reached_test_target(self, eval_result: Dict[str, float]) -> bool:
    key = f'test/{self.target_metric_name}'
    if key not in eval_result:  # No test split: the validation target decides alone.
      return self.has_reached_validation_target(eval_result)
    return self._reached(eval_result[key], self.test_target_value)

  # The eval loop ---------------------------------------------------------------------------------

  def _eval_batch(self, params, batch: Dict[str, Any], model_state, rng) -> Dict[str, Any]:
    """Summed metrics of one padded eval batch (framework subclasses implement it)."""
    raise NotImplementedError

  def _normalize_eval_metrics(self, num_examples: int, total_metrics: Dict[str, float]) -> Dict[str, float]:
    """Turns summed metrics into averages; workloads with other metrics (BLEU, mAP) override this."""
    return {k: float(v) / num_examples for k, v in total_metrics.items()}

  def _eval_model_on_split(self, split: str, num_examples: int, global_batch_size: int, params, model_state,
                           rng, data_dir: str, global_step: int = 0) -> Dict[str, float]:
    del global_step
    if split not in self._eval_iters:
      # Eval iterators are built once and replayed: the same examples every eval.
      self._eval_iters[split] = self._build_input_queue(
          rng, split, data_dir, global_batch_size, cache=True, repeat_final_dataset=False)
    totals: Dict[str, float] = {}
    for batch in self._eval_iters[split]:
      for key, value in self._eval_batch(params, batch, model_state, rng).items():
        totals[key] = totals.get(key, 0.0) + float(np.asarray(value))
    return self._normalize_eval_metrics(num_examples, totals)


class MappedIterable:
  """Applies a function to each item of a re-iterable (eval splits are replayed every eval)."""

  def __init__(self, iterable, fn):
    self._iterable, self._fn = iterable, fn

  def __iter__(self) -> Iterator[Any]:
    return (self._fn(item) for item in self._iterable)


class ReplayableIterator:
  """Re-iterable wrapper: each `iter()` starts the underlying factory again (eval splits)."""

  def __init__(self, factory):
    self._factory = factory

  def __iter__(self) -> Iterator[Any]:
    return iter(self._factory())

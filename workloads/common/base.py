"""The framework-neutral part every workload shares: scales, rules versions, targets and the eval loop.

A workload is built at one of three scales of the same code (DESIGN.md): `full` (the published sizes,
targets and budgets), `lite` (a CPU-sized member of the same family on the small real data that
tools:make_datasets builds; its targets, budget, eval period and step hint come from the target-setting
protocol, in workloads/<folder>/lite_targets.json: lite_targets.py) and `smoke` (tiny, for unit tests). The
rules version picks the budget and step hint (v0.6 default; v0.5 for the published leaderboard).
"""
import dataclasses
import os
from typing import Any, Dict, Iterator, Mapping, Optional, Tuple

import numpy as np

from algoperf import spec
from workloads.common import lite_targets

SCALES = ('full', 'lite', 'smoke')
RULES_VERSIONS = ('v0.5', 'v0.6')


@dataclasses.dataclass(frozen=True)
class ScaleConfig:
  """Everything that changes between the full, lite and smoke scale of one workload.

  At the lite scale the five target fields stay None here: lite_targets.json supplies them.
  """
  num_train_examples: int
  num_validation_examples: int
  num_test_examples: Optional[int]
  eval_batch_size: int
  validation_target_value: Optional[float] = None
  test_target_value: Optional[float] = None
  max_allowed_runtime_sec: Optional[float] = None  # Whole seconds at full scale; lite: tenths (derive.py).
  eval_period_time_sec: Optional[float] = None
  step_hint: Optional[int] = None
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

  def __init__(self, scale: str = 'full', rules_version: str = 'v0.6',
               target_setting: Optional[Mapping[str, Any]] = None, **kwargs) -> None:
    """target_setting: {'step_hint', 'eval_period_time_sec'} for a run of the target-setting protocol
    (tools/set_targets.py): targets out of reach and no budget (lite_targets.target_setting_config)."""
    super().__init__(**kwargs)
    if scale not in self.SCALES:
      raise ValueError(f'Unknown scale {scale!r} for {type(self).__name__}; use one of '
                       f'{", ".join(self.SCALES)}.')
    if rules_version not in RULES_VERSIONS:
      raise ValueError(f'Unknown rules version {rules_version!r}; use one of {", ".join(RULES_VERSIONS)}.')
    self.scale = scale
    self.rules_version = rules_version
    self.config = self.SCALES[scale]
    # A lite workload whose file is missing still builds (model tests need no targets); reading a target,
    # the budget, the eval period or the step hint raises this error, which names the set_targets command.
    self._missing_lite_targets: Optional[Exception] = None
    if target_setting is not None:
      self.config = lite_targets.target_setting_config(self.config, self.target_metric_minimized,
                                                       **target_setting)
    elif scale == 'lite':
      try:
        self.config = lite_targets.apply(self.config, self._lite_targets())
      except lite_targets.MissingLiteTargets as e:
        self._missing_lite_targets = e

  # Lite targets (workloads/<folder>/lite_targets*.json) -----------------------------------------------

  def registry_key(self) -> Tuple[str, str, str]:
    """(registry key, folder, base workload key) of this class (or the nearest registered class above it)."""
    from workloads import registry  # pylint: disable=import-outside-toplevel
    for cls in type(self).__mro__:
      for key, entry in registry.WORKLOADS.items():
        if entry.class_name == cls.__name__ and cls.__module__.startswith(f'workloads.{entry.package}.'):
          return key, entry.package, registry.get_base_workload_name(key)
    raise ValueError(f'{type(self).__name__} is not a registered workload (workloads/registry.py), so it has '
                     'no lite_targets.json; register it or build it at the full or smoke scale.')

  def _lite_targets(self) -> Dict[str, Any]:
    key, package, base_key = self.registry_key()
    path = lite_targets.path_for(key, package, base_key)
    if key == base_key or os.path.exists(path):
      return lite_targets.read_targets(path, key)
    # A held-out variant without its own file: its base's values, targets scaled by the full-scale ratio.
    base_targets = lite_targets.read_targets(lite_targets.path_for(base_key, package, base_key), base_key)
    base_class = next((c for c in type(self).__mro__ if c is not type(self) and _registered_as(c, base_key)), None)
    if base_class is None:
      raise lite_targets.MissingLiteTargets(
          f'{path} does not exist and {type(self).__name__} does not derive from its base workload '
          f'{base_key!r}; set its targets with: {lite_targets.set_targets_command(key)}')
    return lite_targets.derive_variant(base_targets, _full_targets(self, base_class), _full_targets(self, type(self)))

  def _require_lite_targets(self) -> None:
    if self._missing_lite_targets is not None:
      raise self._missing_lite_targets

  # Targets and sizes -----------------------------------------------------------------------------

  @property
  def validation_target_value(self) -> float:
    self._require_lite_targets()
    return self.config.validation_target_value

  @property
  def test_target_value(self) -> float:
    self._require_lite_targets()
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
  def max_allowed_runtime_sec(self) -> float:
    self._require_lite_targets()
    if self.rules_version == 'v0.5' and self.config.max_allowed_runtime_sec_v05:
      return self.config.max_allowed_runtime_sec_v05
    return self.config.max_allowed_runtime_sec

  @property
  def eval_period_time_sec(self) -> float:
    self._require_lite_targets()
    return self.config.eval_period_time_sec

  @property
  def step_hint(self) -> int:
    self._require_lite_targets()
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


def _registered_as(cls, key: str) -> bool:
  from workloads import registry  # pylint: disable=import-outside-toplevel
  entry = registry.WORKLOADS[key]
  return cls.__name__ == entry.class_name and cls.__module__.startswith(f'workloads.{entry.package}.')


def _full_targets(workload: ScaledWorkload, cls) -> Dict[str, float]:
  """The published (full-scale) targets of `cls`, read through its properties (variants override them)."""
  probe = object.__new__(cls)
  probe.__dict__.update(workload.__dict__)
  probe.scale, probe.config, probe._missing_lite_targets = 'full', cls.SCALES['full'], None
  return {'validation_target_value': probe.validation_target_value, 'test_target_value': probe.test_target_value}


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

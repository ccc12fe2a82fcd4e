"""The lite scale's targets, budget, eval period and step hint, read from the file tools:set_targets writes.

Every lite workload's `validation_target_value`, `test_target_value`, `max_allowed_runtime_sec`,
`eval_period_time_sec` and `step_hint` come from `workloads/<folder>/lite_targets.json` (a held-out variant:
`workloads/<folder>/lite_targets_<key>.json`), which the target-setting protocol writes with its provenance
(tools/set_targets.py). A workload the protocol has not reached yet keeps the values picked by hand before it
existed, in the file's `provisional` object: they are used and reported as provisional (ScaleConfig.
provisional_targets) until set_targets writes `targets`. A held-out variant without its own file derives its
targets from its base workload's file (`derive_variant`).

While set_targets runs the protocol, the workload is built with `target_setting={...}` instead: targets out of
reach, no budget, and the step hint and eval period of the protocol (`target_setting_config`).
"""
import dataclasses
import json
import math
import os
from typing import Any, Dict, Mapping, Optional

FIELDS = ('validation_target_value', 'test_target_value', 'max_allowed_runtime_sec', 'eval_period_time_sec',
          'step_hint')
WORKLOADS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The budget of a target-setting run: no limit in practice (the step budget ends it).
TARGET_SETTING_BUDGET_SEC = 10**7


class MissingLiteTargets(FileNotFoundError):
  """A lite workload whose targets have not been set (the message names the command that sets them)."""


def set_targets_command(workload_key: str) -> str:
  return f'./bazelw run //tools:set_targets -- --workload={workload_key} --scale=lite'


def path_for(workload_key: str, package: str, base_key: str) -> str:
  name = 'lite_targets.json' if workload_key == base_key else f'lite_targets_{workload_key}.json'
  return os.path.join(WORKLOADS_DIR, package, name)


def read_targets(path: str, workload_key: str) -> Dict[str, Any]:
  """The `targets` object of a lite_targets file; raises MissingLiteTargets naming the command."""
  if not os.path.exists(path):
    raise MissingLiteTargets(f'{path} does not exist, so the lite targets of {workload_key!r} are not set; set '
                             f'them with the target-setting protocol: {set_targets_command(workload_key)}')
  with open(path) as f:
    record = json.load(f)
  targets = record.get('targets')
  if targets and all(targets.get(name) is not None for name in FIELDS):
    return {name: targets[name] for name in FIELDS}
  provisional = record.get('provisional')
  if provisional and all(provisional.get(name) is not None for name in FIELDS):
    # Values picked by hand before the protocol existed, kept so the workload runs; reported as provisional.
    return dict({name: provisional[name] for name in FIELDS}, provisional_targets=True)
  raise MissingLiteTargets(f'{path} holds no targets yet (the target-setting protocol has not finished); run '
                           f'or resume it with: {set_targets_command(workload_key)}')


def base_targets(workload_key: str) -> Dict[str, Any]:
  """The lite targets of a base workload, found through the registry (without importing the workload)."""
  from workloads import registry  # pylint: disable=import-outside-toplevel
  return read_targets(path_for(workload_key, registry.WORKLOADS[workload_key].package, workload_key), workload_key)


def protocol_has_set(workload_key: str) -> bool:
  """Whether a base workload's lite_targets.json holds the protocol's targets (not only provisional ones)."""
  try:
    return 'provisional_targets' not in base_targets(workload_key)
  except MissingLiteTargets:
    return False


def apply(config, targets: Mapping[str, Any]):
  """The ScaleConfig with the file's values (`provisional_targets` set when they are not the protocol's)."""
  return dataclasses.replace(config, provisional_targets=bool(targets.get('provisional_targets', False)),
                             **{name: targets[name] for name in FIELDS})


def derive_variant(base_targets: Mapping[str, Any], base_full: Mapping[str, float],
                   variant_full: Mapping[str, float]) -> Dict[str, Any]:
  """A held-out variant's lite values from its base's: each target times the variant's full-scale ratio to the
  base (the published targets, harness.md §3.3); budget, eval period and step hint as the base's."""
  derived = dict(base_targets)
  for name in ('validation_target_value', 'test_target_value'):
    derived[name] = base_targets[name] * variant_full[name] / base_full[name]
  return derived


def target_setting_config(config, minimized: bool, step_hint: int, eval_period_time_sec: float):
  """The config of a target-setting run: targets out of reach, no budget in practice, the protocol's step hint."""
  unreachable = -math.inf if minimized else math.inf
  return dataclasses.replace(config, validation_target_value=unreachable, test_target_value=unreachable,
                             max_allowed_runtime_sec=TARGET_SETTING_BUDGET_SEC,
                             eval_period_time_sec=eval_period_time_sec, step_hint=int(step_hint))


def target_setting_kwargs(step_hint: int, eval_period_time_sec: float) -> Dict[str, Any]:
  """The workload constructor's keyword argument for a target-setting run (TrialSpec.workload_kwargs)."""
  return {'target_setting': {'step_hint': int(step_hint), 'eval_period_time_sec': float(eval_period_time_sec)}}

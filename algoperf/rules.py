"""The two rules versions: what changes between the v0.5 competition and the current v0.6 rules.

spec/harness.md, the table at the top: studies, self-tuning budget, prepare_for_eval and held-out variants.
Budgets and step hints per version live with each workload (workloads/common/base.py).
"""
import dataclasses
from typing import Dict


@dataclasses.dataclass(frozen=True)
class Rules:
  version: str
  num_studies: int
  num_trials: int
  self_tuning_budget_factor: float
  has_prepare_for_eval: bool  # v0.5 evaluates whatever update_params returned.
  has_held_out_workloads: bool
  passes_train_state: bool  # v0.6 passes train_state to update_params when its signature takes it.
  rng_splits_per_step: int  # v0.6: data selection, update, prepare_for_eval, eval; v0.5 had no prepare.


RULES: Dict[str, Rules] = {
    'v0.5': Rules('v0.5', num_studies=5, num_trials=5, self_tuning_budget_factor=3.0,
                  has_prepare_for_eval=False, has_held_out_workloads=True, passes_train_state=False,
                  rng_splits_per_step=3),
    'v0.6': Rules('v0.6', num_studies=3, num_trials=5, self_tuning_budget_factor=1.5,
                  has_prepare_for_eval=True, has_held_out_workloads=False, passes_train_state=True,
                  rng_splits_per_step=4),
}


def get_rules(version: str) -> Rules:
  if version not in RULES:
    raise ValueError(f'Unknown rules version {version!r}; use one of {", ".join(RULES)}.')
  return RULES[version]


def budget_sec(max_allowed_runtime_sec: float, ruleset: str, rules: Rules) -> float:
  """A trial's submission-time budget: the workload's, times the self-tuning factor for self-tuning."""
  if ruleset == 'external':
    return float(max_allowed_runtime_sec)
  if ruleset == 'self':
    return rules.self_tuning_budget_factor * max_allowed_runtime_sec
  raise ValueError(f'Unknown tuning ruleset {ruleset!r}; use "external" or "self".')

"""The rules versions, in one place: what changes between the v0.5 competition and the current v0.6 rules.

spec/harness.md, the table at the top: studies, trials, self-tuning budget, prepare_for_eval and held-out
variants. The harness (trials, training loop), the benchmark's planner and the scorer (scoring/rules.py adds
its tau grid to these numbers) all read this module. Budgets and step hints per version live with each
workload (workloads/common/base.py).
"""
import dataclasses
from typing import Dict, Mapping

EXTERNAL = 'external'
SELF = 'self'
RULESETS = (EXTERNAL, SELF)
DEFAULT_VERSION = 'v0.6'

# The held-out variants drawn for the v0.5 competition (spec/harness.md 3.3): base workload -> its variant,
# one per dataset, none for ViT or DeepSpeech. A base is only scored together with its variant.
HELD_OUT_V05: Mapping[str, str] = {
    'criteo1tb': 'criteo1tb_embed_init',
    'fastmri': 'fastmri_tanh',
    'imagenet_resnet': 'imagenet_resnet_large_bn_init',
    'librispeech_conformer': 'librispeech_conformer_layernorm',
    'ogbg': 'ogbg_model_size',
    'wmt': 'wmt_glu_tanh',
}


@dataclasses.dataclass(frozen=True)
class Rules:
  version: str
  num_studies: int
  num_trials: int  # Trials per study under external tuning; self-tuning has one.
  self_tuning_budget_factor: float
  has_prepare_for_eval: bool  # v0.5 evaluates whatever update_params returned.
  held_out: Mapping[str, str]  # Base workload -> its held-out variant (empty: no held-out workloads).
  passes_train_state: bool  # v0.6 passes train_state to update_params when its signature takes it.
  rng_splits_per_step: int  # v0.6: data selection, update, prepare_for_eval, eval; v0.5 had no prepare.

  @property
  def has_held_out_workloads(self) -> bool:
    return bool(self.held_out)

  def trials_per_study(self, ruleset: str) -> int:
    return self.num_trials if check_ruleset(ruleset) == EXTERNAL else 1

  def budget_factor(self, ruleset: str) -> float:
    return 1.0 if check_ruleset(ruleset) == EXTERNAL else self.self_tuning_budget_factor


RULES: Dict[str, Rules] = {
    'v0.5': Rules('v0.5', num_studies=5, num_trials=5, self_tuning_budget_factor=3.0,
                  has_prepare_for_eval=False, held_out=HELD_OUT_V05, passes_train_state=False,
                  rng_splits_per_step=3),
    'v0.6': Rules('v0.6', num_studies=3, num_trials=5, self_tuning_budget_factor=1.5,
                  has_prepare_for_eval=True, held_out={}, passes_train_state=True,
                  rng_splits_per_step=4),
}


def get_rules(version: str) -> Rules:
  if version not in RULES:
    raise ValueError(f'Unknown rules version {version!r}; use one of {", ".join(RULES)}.')
  return RULES[version]


def check_ruleset(ruleset: str) -> str:
  if ruleset not in RULESETS:
    raise ValueError(f'Unknown tuning ruleset {ruleset!r}; use "external" or "self".')
  return ruleset


def budget_sec(max_allowed_runtime_sec: float, ruleset: str, rules: Rules) -> float:
  """A trial's submission-time budget: the workload's, times the self-tuning factor for self-tuning."""
  return rules.budget_factor(ruleset) * float(max_allowed_runtime_sec)

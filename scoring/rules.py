"""The constants that differ between rules versions, in one place."""
import dataclasses
from typing import Mapping

from scoring.problems import ScoringError

EXTERNAL = 'external'
SELF = 'self'
RULESETS = (EXTERNAL, SELF)


@dataclasses.dataclass(frozen=True)
class Rules:
  """One rules version; the tau grid is shared by both versions."""
  version: str
  num_studies: int
  num_external_trials: int
  self_tuning_budget_factor: float
  # base workload -> its held-out variant; a base is only scored together with its variant.
  held_out: Mapping[str, str]
  tau_min: float = 1.0
  tau_max: float = 4.0
  num_tau_points: int = 100
  # A time more than this many times the best one on a workload counts as infinite.
  max_ratio: float = 4.0

  def num_trials(self, ruleset):
    return self.num_external_trials if check_ruleset(ruleset) == EXTERNAL else 1

  def budget_factor(self, ruleset):
    return 1.0 if check_ruleset(ruleset) == EXTERNAL else self.self_tuning_budget_factor

  @property
  def variants(self):
    return {variant: base for base, variant in self.held_out.items()}


# The draw of spec/harness.md 3.3 (one variant per dataset; none for ViT or DeepSpeech).
V05_HELD_OUT = {
    'criteo1tb': 'criteo1tb_embed_init',
    'fastmri': 'fastmri_tanh',
    'imagenet_resnet': 'imagenet_resnet_large_bn_init',
    'librispeech_conformer': 'librispeech_conformer_layernorm',
    'ogbg': 'ogbg_model_size',
    'wmt': 'wmt_glu_tanh',
}

RULES = {
    'v0.5': Rules('v0.5', num_studies=5, num_external_trials=5, self_tuning_budget_factor=3.0,
                  held_out=V05_HELD_OUT),
    'v0.6': Rules('v0.6', num_studies=3, num_external_trials=5, self_tuning_budget_factor=1.5,
                  held_out={}),
}
DEFAULT_VERSION = 'v0.6'


def get_rules(version):
  if version not in RULES:
    raise ScoringError(f'unknown rules version {version!r}; use one of {", ".join(sorted(RULES))}')
  return RULES[version]


def check_ruleset(ruleset):
  if ruleset not in RULESETS:
    raise ScoringError(f'unknown ruleset {ruleset!r}; use external or self')
  return ruleset

"""The scorer's view of a rules version: the harness's numbers (algoperf/rules.py, the one source of
studies, trials, budget factors and held-out variants) plus the tau grid of the performance profiles.

Errors are ScoringError here, so that the scoring command reports them as it reports bad input."""
import dataclasses
from typing import Mapping

from algoperf import rules as harness_rules
from scoring.problems import ScoringError

EXTERNAL = harness_rules.EXTERNAL
SELF = harness_rules.SELF
RULESETS = harness_rules.RULESETS
DEFAULT_VERSION = harness_rules.DEFAULT_VERSION
V05_HELD_OUT = harness_rules.HELD_OUT_V05


@dataclasses.dataclass(frozen=True)
class Rules:
  """One rules version as the scorer uses it; the tau grid is shared by both versions."""
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


def from_harness(rules: harness_rules.Rules) -> Rules:
  return Rules(rules.version, num_studies=rules.num_studies, num_external_trials=rules.num_trials,
               self_tuning_budget_factor=rules.self_tuning_budget_factor, held_out=dict(rules.held_out))


RULES = {version: from_harness(rules) for version, rules in harness_rules.RULES.items()}


def get_rules(version):
  if version not in RULES:
    raise ScoringError(f'unknown rules version {version!r}; use one of {", ".join(sorted(RULES))}')
  return RULES[version]


def check_ruleset(ruleset):
  if ruleset not in RULESETS:
    raise ScoringError(f'unknown ruleset {ruleset!r}; use external or self')
  return ruleset

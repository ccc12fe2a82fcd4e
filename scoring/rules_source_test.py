"""One rules source: the harness (algoperf/rules.py), the scorer (scoring/rules.py) and the workload registry
read the same studies, trials, budget factors and held-out variants."""
import pytest

from algoperf import rules as harness
from scoring import problems
from scoring import rules as scoring_rules
from workloads import registry


@pytest.mark.parametrize('version', sorted(harness.RULES))
def test_scoring_reads_the_harness_numbers(version):
  h, s = harness.get_rules(version), scoring_rules.get_rules(version)
  assert s.num_studies == h.num_studies
  for ruleset in harness.RULESETS:
    assert s.num_trials(ruleset) == h.trials_per_study(ruleset)
    assert s.budget_factor(ruleset) == h.budget_factor(ruleset)
    assert s.budget_factor(ruleset) * 100 == harness.budget_sec(100, ruleset, h)
  assert dict(s.held_out) == dict(h.held_out)
  assert sorted(scoring_rules.RULES) == sorted(harness.RULES)
  assert scoring_rules.DEFAULT_VERSION == harness.DEFAULT_VERSION


def test_the_published_numbers():
  # spec/harness.md's table: v0.5 5 studies and a 3x self-tuning budget, v0.6 3 studies and 1.5x; 5 trials.
  v05, v06 = harness.get_rules('v0.5'), harness.get_rules('v0.6')
  assert (v05.num_studies, v05.num_trials, v05.self_tuning_budget_factor) == (5, 5, 3.0)
  assert (v06.num_studies, v06.num_trials, v06.self_tuning_budget_factor) == (3, 5, 1.5)
  assert v06.held_out == {} and not v06.has_held_out_workloads and v05.has_held_out_workloads
  assert harness.budget_sec(100, 'self', v05) == 300 and harness.budget_sec(100, 'external', v05) == 100


def test_held_out_variants_are_registered_variants_of_their_base():
  held_out = harness.get_rules('v0.5').held_out
  assert sorted(registry.HELD_OUT_WORKLOADS_V05) == sorted(held_out.values())
  assert len(held_out) == 6  # one per dataset, none for ViT or DeepSpeech (spec/harness.md 3.3)
  for base, variant in held_out.items():
    assert base in registry.BASE_WORKLOADS and variant in registry.WORKLOADS
    assert registry.get_base_workload_name(variant) == base


def test_each_side_reports_a_bad_version_its_own_way():
  with pytest.raises(ValueError, match='v0.7'):
    harness.get_rules('v0.7')
  with pytest.raises(problems.ScoringError, match='v0.7'):
    scoring_rules.get_rules('v0.7')
  with pytest.raises(problems.ScoringError, match='outside'):
    scoring_rules.check_ruleset('outside')

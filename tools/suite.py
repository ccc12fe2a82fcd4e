"""Suites as data: tools/suites/<name>.json says which workloads run, at what scale, with how many studies
and trials, under which rulesets and rules version; tools:benchmark reads one (`--suite`, default quick).

A suite file's keys (all required):
  description        one line for the plan's header
  workloads          workload keys, in run order
  held_out_variants  true: add, after the listed ones, the rules version's held-out variant of each listed
                     base workload (algoperf/rules.py; only the v0.5 rules have held-out variants)
  scale              full, lite or smoke
  num_studies        studies per workload, or null for the rules' number
  num_trials         trials per external-tuning study, or null for the rules' number (self-tuning: 1)
  rulesets           ["external", "self"] or one of them
  rules_version      the default rules version (--rules_version overrides it)

Explicit flags (--workloads, --scale, --num_studies, --num_trials, --ruleset, --rules_version) override the
suite's value; an explicit --workloads list is taken as it is (no held-out variants are added).
"""
import dataclasses
import json
import os
from typing import Dict, List, Optional, Sequence

from algoperf import rules as rules_lib

SUITES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'suites')
SCALES = ('full', 'lite', 'smoke')
KEYS = ('description', 'workloads', 'held_out_variants', 'scale', 'num_studies', 'num_trials', 'rulesets',
        'rules_version')


@dataclasses.dataclass(frozen=True)
class Settings:
  """A suite with the overrides applied: what the planner expands into trials."""
  suite: str
  description: str
  workloads: List[str]
  scale: str
  num_studies: int
  trials_per_study: Dict[str, int]  # ruleset -> trials per study
  rulesets: List[str]
  rules_version: str


def names() -> List[str]:
  return sorted(n[:-len('.json')] for n in os.listdir(SUITES_DIR) if n.endswith('.json'))


def load(name: str, suites_dir: str = SUITES_DIR) -> dict:
  """The suite file's contents, checked: every key present, nothing unknown, values of the right kind."""
  path = os.path.join(suites_dir, f'{name}.json')
  if not os.path.exists(path):
    raise ValueError(f'Unknown suite {name!r}; choose one of: {", ".join(names())} (files in {suites_dir}).')
  with open(path) as f:
    suite = json.load(f)
  missing = [k for k in KEYS if k not in suite]
  unknown = sorted(set(suite) - set(KEYS))
  if missing or unknown:
    raise ValueError(f'{path}: ' + '; '.join(
        ([f'missing key(s) {", ".join(missing)}'] if missing else []) +
        ([f'unknown key(s) {", ".join(unknown)}'] if unknown else [])) + f'; the keys are {", ".join(KEYS)}.')
  if not suite['workloads'] or not all(isinstance(w, str) for w in suite['workloads']):
    raise ValueError(f'{path}: "workloads" must be a non-empty list of workload keys, not {suite["workloads"]!r}.')
  if suite['scale'] not in SCALES:
    raise ValueError(f'{path}: "scale" is {suite["scale"]!r}; use one of {", ".join(SCALES)}.')
  for key in ('num_studies', 'num_trials'):
    if suite[key] is not None and (not isinstance(suite[key], int) or suite[key] < 1):
      raise ValueError(f'{path}: "{key}" is {suite[key]!r}; use a positive integer or null (the rules\' number).')
  if not suite['rulesets'] or any(r not in rules_lib.RULESETS for r in suite['rulesets']):
    raise ValueError(f'{path}: "rulesets" is {suite["rulesets"]!r}; use a list of "external" and/or "self".')
  rules_lib.get_rules(suite['rules_version'])
  return suite


def settings(name: str, workloads: Optional[Sequence[str]] = None, scale: Optional[str] = None,
             num_studies: Optional[int] = None, num_trials: Optional[int] = None,
             rulesets: Optional[Sequence[str]] = None, rules_version: Optional[str] = None,
             suites_dir: str = SUITES_DIR) -> Settings:
  """The suite `name` with the given overrides (None: the suite's value)."""
  suite = load(name, suites_dir)
  version = rules_version or suite['rules_version']
  rules = rules_lib.get_rules(version)
  if workloads:
    chosen = list(workloads)
  else:
    chosen = list(suite['workloads'])
    if suite['held_out_variants']:
      chosen += [rules.held_out[w] for w in suite['workloads'] if w in rules.held_out]
  chosen_rulesets = list(rulesets or suite['rulesets'])
  trials = num_trials or suite['num_trials'] or rules.num_trials
  return Settings(
      suite=name, description=suite['description'], workloads=chosen, scale=scale or suite['scale'],
      num_studies=num_studies or suite['num_studies'] or rules.num_studies,
      trials_per_study={r: trials if r == rules_lib.EXTERNAL else rules.trials_per_study(r) for r in chosen_rulesets},
      rulesets=chosen_rulesets, rules_version=version)

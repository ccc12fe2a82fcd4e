"""The benchmark's plan: which trials a suite expands to, which of them are already finished, and how long
the rest should take.

Submissions. Every folder under submissions/<ruleset>_tuning/ (or the ones named) runs in the frameworks that
--framework picks: `published` (each submission's own, from the `published_framework` of its
submission_info.json), `both`, `jax` or `pytorch`. A submission without a file for a picked framework is
listed as skipped, with the reason. `kernel_frameworks` in the same file names the frameworks whose version
runs element-wise updates on the fused kernels: --compare_kernels re-runs exactly those trials with
ALGOPERF_KERNELS=off, in <experiment_dir>/kernels_off/ (same seeds and hyperparameters).

Resuming. A trial folder whose status.json says completed or diverged is finished and is not run again; one
that says failed (the process crashed, ran out of memory or time, or the submission raised) is not retried
either, unless retry_failed: rerunning a deterministic failure only costs its budget again, while a failure
caused by the machine (a kill, memory pressure) is worth a retry, which the user asks for with
--retry_failed. A folder without status.json is an unfinished trial: run_trial resumes it from its last
checkpoint.

The estimate. Each trial still to run is given the median wall time of finished trials of the same
workload, framework, scale and ruleset found in sibling experiment folders (under the experiment folder's
parent, e.g. ~/algoperf_experiments; the wall time is read from the folder's files: first flags file to
status.json). Trials run under the workload's current time budget count alone when there are any; trials run
under another budget (the lite targets were set again since) count scaled by the ratio of the budgets, since a
trial's time follows its budget. Without such history, the same from the reference measurements committed in
tools/reference_walls.json (a main job on the project's 2-core machine; `--write_reference_walls` writes
them from a finished run), so that a first run's estimate is not off by the start-up allowance below. Without
either, its budget bound: the workload's time budget (x the self-tuning factor) plus STARTUP_SEC for start-up
and evals, what a trial that never reaches its target costs.
"""
import collections
import dataclasses
import functools
import glob
import importlib
import json
import math
import os
import statistics
import time
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from algoperf import logger_utils
from algoperf import rules as rules_lib

SUBMISSIONS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'submissions')
INFO_FILE = 'submission_info.json'
FRAMEWORK_CHOICES = ('published', 'both', 'jax', 'pytorch')
FINISHED = ('completed', 'diverged', 'failed')
KERNELS_OFF_FOLDER = 'kernels_off'
KERNELS_OFF_ENV = {'ALGOPERF_KERNELS': 'off'}
STARTUP_SEC = 30.0  # Start-up (imports, compilation, data) and evals of one trial, for the budget bound.
REFERENCE_WALLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'reference_walls.json')


@dataclasses.dataclass(frozen=True)
class SubmissionInfo:
  published_framework: str
  kernel_frameworks: Tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Skipped:
  ruleset: str
  submission: str
  framework: str
  reason: str

  def line(self) -> str:
    return f'skipped: {self.submission} ({self.ruleset} tuning, {self.framework}): {self.reason}'


@dataclasses.dataclass(frozen=True)
class Planned:
  """One trial of the plan and the state of its folder: new, resume, or a finished status."""
  spec: object  # algoperf.trials.TrialSpec
  ruleset: str
  submission: str
  kernels_off: bool
  state: str

  @property
  def to_run(self) -> bool:
    return self.state in ('new', 'resume')


@dataclasses.dataclass
class Plan:
  trials: List[Planned]
  skipped: List[Skipped]

  @property
  def to_run(self) -> List[Planned]:
    return [t for t in self.trials if t.to_run]


def submission_info(ruleset: str, name: str, submissions_dir: str = SUBMISSIONS_DIR) -> SubmissionInfo:
  path = os.path.join(submissions_dir, f'{ruleset}_tuning', name, INFO_FILE)
  if not os.path.exists(path):
    raise ValueError(f'{path} is missing; add it with "published_framework" (jax or pytorch) and '
                     '"kernel_frameworks" (the frameworks whose version runs on the fused kernels).')
  with open(path) as f:
    data = json.load(f)
  if data.get('published_framework') not in ('jax', 'pytorch'):
    raise ValueError(f'{path}: "published_framework" is {data.get("published_framework")!r}; use jax or pytorch.')
  kernels = data.get('kernel_frameworks')
  if not isinstance(kernels, list) or any(k not in ('jax', 'pytorch') for k in kernels):
    raise ValueError(f'{path}: "kernel_frameworks" is {kernels!r}; use a list of jax and/or pytorch.')
  return SubmissionInfo(data['published_framework'], tuple(kernels))


def all_submissions(ruleset: str, submissions_dir: str = SUBMISSIONS_DIR) -> List[str]:
  """Every submission folder of a ruleset (a folder with a *_submission.py), sorted."""
  root = os.path.join(submissions_dir, f'{ruleset}_tuning')
  return sorted(n for n in os.listdir(root)
                if glob.glob(os.path.join(root, n, '*_submission.py')))


def frameworks_of(ruleset: str, name: str, choice: str, submissions_dir: str = SUBMISSIONS_DIR) -> List[str]:
  if choice not in FRAMEWORK_CHOICES:
    raise ValueError(f'--framework={choice!r} is not known; use one of {", ".join(FRAMEWORK_CHOICES)}.')
  if choice == 'published':
    return [submission_info(ruleset, name, submissions_dir).published_framework]
  return ['jax', 'pytorch'] if choice == 'both' else [choice]


def trial_state(trial_dir: str, retry_failed: bool = False) -> str:
  """'new' (no folder), 'resume' (a folder without status.json) or the finished status it recorded."""
  status_path = os.path.join(trial_dir, logger_utils.STATUS_FILE)
  if os.path.exists(status_path):
    with open(status_path) as f:
      status = json.load(f).get('status')
    if status in FINISHED and not (status == 'failed' and retry_failed):
      return status
    return 'resume'
  return 'resume' if os.path.isdir(trial_dir) and os.listdir(trial_dir) else 'new'


def make_plan(experiment_dir: str, settings, submissions: Optional[Sequence[str]], framework: str, seed: int,
              compare_kernels: bool = False, retry_failed: bool = False, submissions_dir: str = SUBMISSIONS_DIR,
              **common) -> Plan:
  """Every trial of the run in order (workload, ruleset, submission, framework, kernels on/off, study, trial),
  with the state of its folder.

  settings: a tools.suite.Settings. common: the TrialSpec fields every trial shares (data_dir,
  max_global_steps, progress_every_sec, flags, ...).
  """
  from algoperf import trials as trials_lib  # pylint: disable=import-outside-toplevel
  from algoperf import tuning  # pylint: disable=import-outside-toplevel
  from scoring import layout  # pylint: disable=import-outside-toplevel
  planned, skipped, entries = [], [], []
  for ruleset in settings.rulesets:
    names = list(submissions) if submissions else all_submissions(ruleset, submissions_dir)
    for name in names:
      folder = os.path.join(submissions_dir, f'{ruleset}_tuning', name)
      if not os.path.isdir(folder):
        known = ', '.join(all_submissions(ruleset, submissions_dir))
        raise ValueError(f'No {ruleset}-tuning submission {name!r}; choose from: {known}.')
      frameworks = frameworks_of(ruleset, name, framework, submissions_dir)
      runnable = []
      for fw in frameworks:
        if os.path.exists(os.path.join(folder, f'{fw}_submission.py')):
          runnable.append(fw)
        else:
          skipped.append(Skipped(ruleset, name, fw, f'no {fw} version ({fw}_submission.py is missing)'))
      kernel_fws = submission_info(ruleset, name, submissions_dir).kernel_frameworks if compare_kernels else ()
      space_path = os.path.join(folder, 'tuning_search_space.json') if ruleset == rules_lib.EXTERNAL else None
      entries.append((ruleset, name, folder, frameworks, runnable, kernel_fws, space_path))
  # Workload-major: an interrupted run has whole workloads done, in both rulesets.
  for workload in settings.workloads:
    for ruleset, name, folder, frameworks, runnable, kernel_fws, space_path in entries:
      for fw in runnable:
        if space_path:
          space = tuning.load_search_space(space_path)
          search_seed = tuning.trial_seed(seed, name, workload, 'search', 0)
          studies = tuning.trials_for_studies(space, settings.num_studies, settings.trials_per_study[ruleset],
                                              search_seed, space_path)
        else:
          studies = [[None] for _ in range(settings.num_studies)]
        for off in ([False, True] if fw in kernel_fws else [False]):
          root = os.path.join(experiment_dir, KERNELS_OFF_FOLDER) if off else experiment_dir
          for study, points in enumerate(studies):
            log_dir = layout.workload_dir(root, ruleset, name, fw, frameworks, study, workload)
            label = f'{name} {workload} {fw} {ruleset}{" kernels off" if off else ""} study {study} '
            for spec in trials_lib.plan_trials(
                points, submission_path=os.path.join(folder, f'{fw}_submission.py'), workload=workload,
                framework=fw, study=study, base_seed=seed, log_dir=log_dir, label=label, ruleset=ruleset,
                rules_version=settings.rules_version, scale=settings.scale,
                env=dict(KERNELS_OFF_ENV) if off else {}, **common):
              planned.append(Planned(spec, ruleset, name, off, trial_state(spec.trial_dir, retry_failed)))
  return Plan(planned, skipped)


# The rules a trial ran under: a trial folder is comparable with new trials only when these match.
RUN_RULES_FIELDS = ('validation_target_value', 'test_target_value', 'max_allowed_runtime_sec',
                    'eval_period_time_sec')


@functools.lru_cache(maxsize=None)
def current_run_rules(workload: str, framework: str, scale: str, rules_version: str) -> Dict[str, float]:
  """The workload's targets, time budget and eval period now (lite: from its lite_targets.json)."""
  from workloads import registry  # pylint: disable=import-outside-toplevel
  instance = registry.import_workload(workload, framework, scale=scale, rules_version=rules_version)
  return {name: getattr(instance, name) for name in RUN_RULES_FIELDS}


def recorded_run_rules(trial_dir: str) -> Optional[Dict[str, float]]:
  """The same fields as the trial recorded them when it started (meta_data_0.json); None if it did not."""
  try:
    with open(os.path.join(trial_dir, 'meta_data_0.json')) as f:
      meta = json.load(f)
  except (OSError, ValueError):
    return None
  return {name: meta.get(f'workload.{name}') for name in RUN_RULES_FIELDS}


def stale_trials(plan: Plan) -> Dict[str, str]:
  """{workload: what changed} for workloads whose started trials ran under other targets, budget or eval
  period than the workload has now (the lite targets were set again since): their times are not comparable
  with new trials', so the run cannot be continued in the same folder."""
  stale = {}
  for t in plan.trials:
    s = t.spec
    if s.workload in stale or t.state == 'new':
      continue
    recorded = recorded_run_rules(s.trial_dir)
    if recorded is None:
      continue
    now = current_run_rules(s.workload, s.framework, s.scale, s.rules_version)
    changed = [f'{name} {recorded[name]} (now {now[name]})' for name in RUN_RULES_FIELDS
               if not isinstance(recorded[name], (int, float))
               or not math.isclose(recorded[name], now[name], rel_tol=1e-9)]
    if changed:
      stale[s.workload] = ', '.join(changed)
  return stale


def finished_workloads(plan: Plan, ruleset: str, retry_failed: bool = False) -> Tuple[List[str], Dict[str, str]]:
  """(workloads whose every planned trial of the ruleset has finished, {unfinished workload: 'k/n finished'}),
  read from the trial folders now: an interrupted run is scored on its whole workloads only."""
  done, total = collections.Counter(), collections.Counter()
  for t in plan.trials:
    if t.ruleset == ruleset and not t.kernels_off:
      total[t.spec.workload] += 1
      done[t.spec.workload] += trial_state(t.spec.trial_dir, retry_failed) in FINISHED
  complete = [w for w in total if done[w] == total[w]]
  return complete, {w: f'{done[w]}/{total[w]} finished' for w in total if done[w] < total[w]}


def scorable_workloads(complete: Sequence[str], unfinished: Mapping[str, str],
                       held_out: Mapping[str, str]) -> Tuple[List[str], List[str]]:
  """(base workloads to score, finished bases waiting for their held-out variant): a base counts only with its
  variant (held_out: {base: variant}, the rules'), so an interrupted v0.5 run scores whole pairs."""
  variants = set(held_out.values())
  bases = [w for w in complete if w not in variants]
  waiting = [w for w in bases if held_out.get(w) in unfinished]
  return [w for w in bases if w not in waiting], waiting


# The estimate ----------------------------------------------------------------------------------------------

def workload_budget_sec(workload: str, scale: str, rules_version: str) -> Optional[float]:
  """The workload's time budget at a scale, from its framework-neutral module (nothing heavy is imported)."""
  from workloads import registry  # pylint: disable=import-outside-toplevel
  from workloads.common import lite_targets  # pylint: disable=import-outside-toplevel
  if workload not in registry.WORKLOADS:
    return None
  if scale == 'lite':  # Lite budgets live in the base workload's lite_targets.json (a variant keeps its base's).
    try:
      return float(lite_targets.base_targets(registry.get_base_workload_name(workload))['max_allowed_runtime_sec'])
    except lite_targets.MissingLiteTargets:
      return None
  try:
    module = importlib.import_module(f'workloads.{registry.WORKLOADS[workload].package}.workload')
  except ImportError:
    return None
  budgets = []
  for value in vars(module).values():
    config = getattr(value, 'SCALES', {}).get(scale) if isinstance(value, type) else None
    if config is not None:
      v05 = getattr(config, 'max_allowed_runtime_sec_v05', None)
      budgets.append(v05 if rules_version == 'v0.5' and v05 else config.max_allowed_runtime_sec)
  return float(max(budgets)) if budgets else None


def measured_wall_sec(trial_dir: str) -> Optional[float]:
  """A finished trial's wall time, from its files: the first flags file to status.json."""
  flags = glob.glob(os.path.join(trial_dir, 'flags_*.json'))
  status = os.path.join(trial_dir, logger_utils.STATUS_FILE)
  if not flags or not os.path.exists(status):
    return None
  return max(0.0, os.path.getmtime(status) - min(os.path.getmtime(f) for f in flags))


def recorded_budget_sec(trial_dir: str) -> Optional[float]:
  """The time budget a trial ran under (its workload's max_allowed_runtime_sec in meta_data_0.json)."""
  budget = (recorded_run_rules(trial_dir) or {}).get('max_allowed_runtime_sec')
  return float(budget) if isinstance(budget, (int, float)) and budget > 0 else None


History = Dict[Tuple[str, str, str, str, str], List[Tuple[float, Optional[float]]]]


def history(root: str) -> History:
  """(workload, framework, scale, rules version, ruleset) -> (wall time, time budget) of each finished trial
  under root/*/ (budget None when the folder does not record it)."""
  return _history(os.path.join(root, '*'))


def _history(experiment_dirs: str) -> History:
  """history() of the experiment folders that the glob pattern `experiment_dirs` matches."""
  times = collections.defaultdict(list)
  pattern = os.path.join(experiment_dirs, '*_tuning', '*', 'study_*', '*_*', 'trial_*', logger_utils.STATUS_FILE)
  for status_path in glob.glob(pattern):
    trial_dir = os.path.dirname(status_path)
    parts = trial_dir.split(os.sep)
    ruleset = parts[-5][:-len('_tuning')]
    workload, _, framework = parts[-2].rpartition('_')
    try:
      with open(os.path.join(trial_dir, 'flags_0.json')) as f:
        flags = json.load(f)
    except (OSError, ValueError):
      continue
    wall = measured_wall_sec(trial_dir)
    if wall is not None and flags.get('scale'):
      times[(workload, framework, flags['scale'], flags.get('rules_version', 'v0.6'), ruleset)].append(
          (wall, recorded_budget_sec(trial_dir)))
  return times


def write_reference_walls(experiment_dir: str, machine: Dict[str, object], source: str,
                          path: str = REFERENCE_WALLS) -> int:
  """Writes the finished trials' wall times and budgets of one experiment folder as the reference
  measurements; returns how many trials it wrote."""
  walls = _history(experiment_dir)
  record = {'note': 'Wall time and time budget of each finished trial of one run, for the estimate of a '
                    'machine without history of its own (tools/plan.py). Written by tools:benchmark '
                    '--write_reference_walls.',
            'source': source, 'written': time.strftime('%Y-%m-%d', time.gmtime()), 'machine': machine,
            'walls': {'|'.join(key): [[round(w, 3), b] for w, b in sorted(values)]
                      for key, values in sorted(walls.items())}}
  with open(path, 'w') as f:
    json.dump(record, f, indent=1)
    f.write('\n')
  return sum(len(v) for v in walls.values())


def load_reference(path: str = REFERENCE_WALLS) -> Tuple[History, str]:
  """The reference measurements as history() gives them, and where they come from in a few words (for the
  estimate line); no measurements when the file is missing."""
  try:
    with open(path) as f:
      record = json.load(f)
    walls = record['walls']
  except (OSError, ValueError, KeyError):
    return {}, f'none: {os.path.basename(path)} is missing or unreadable'
  machine = record.get('machine', {})
  name = os.path.join(*path.split(os.sep)[-2:])  # tools/reference_walls.json
  source = f'{name}: {machine.get("cpu_count")} CPUs, {machine.get("cpu_model")}, {record.get("written")}'
  history_ = {tuple(key.split('|')): [(float(w), None if b is None else float(b)) for w, b in values]
              for key, values in walls.items()}
  return history_, source


def walls_under_budget(known: Sequence[Tuple[float, Optional[float]]], budget: Optional[float]) -> List[float]:
  """The past wall times as if run under `budget`: those run under it alone when there are any, else every
  one scaled by budget / its own budget (unscaled where either is unknown)."""
  same = [wall for wall, past_budget in known if budget is not None and past_budget == budget]
  if same:
    return same
  return [wall * budget / past_budget if budget and past_budget else wall for wall, past_budget in known]


@dataclasses.dataclass(frozen=True)
class Estimate:
  seconds: float
  per_workload: Dict[str, float]
  measured: int  # trials estimated from this machine's history
  bounded: int  # trials estimated by their budget bound
  unknown: int  # trials with neither
  referenced: int = 0  # trials estimated from the reference measurements


def estimate(trials: Sequence[Planned], scale: str, rules_version: str, past: Optional[History] = None,
             reference: Optional[History] = None) -> Tuple[Estimate, List[Optional[float]]]:
  """The total and per-workload estimate, and each trial's (None: unknown); see the module docstring."""
  rules = rules_lib.get_rules(rules_version)
  past, reference = past or {}, reference or {}
  budgets, each = {}, []
  per_workload = collections.defaultdict(float)
  measured = referenced = bounded = unknown = 0
  for t in trials:
    s = t.spec
    if s.workload not in budgets:
      budgets[s.workload] = workload_budget_sec(s.workload, scale, rules_version)
    budget = budgets[s.workload]
    key = (s.workload, s.framework, scale, rules_version, t.ruleset)
    if past.get(key):
      sec = statistics.median(walls_under_budget(past[key], budget))
      measured += 1
    elif reference.get(key):
      sec = statistics.median(walls_under_budget(reference[key], budget))
      referenced += 1
    else:
      sec = None if budget is None else rules_lib.budget_sec(budget, t.ruleset, rules) + STARTUP_SEC
      if sec is None:
        unknown += 1
      else:
        bounded += 1
    each.append(sec)
    if sec is not None:
      per_workload[s.workload] += sec
  return Estimate(sum(per_workload.values()), dict(per_workload), measured, bounded, unknown, referenced), each


def describe(seconds: float) -> str:
  if seconds < 120:
    return f'{seconds:.0f} s'
  if seconds < 7200:
    return f'{seconds / 60:.0f} min'
  return f'{seconds / 3600:.1f} h'

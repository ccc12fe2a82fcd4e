"""The Python API: score an experiment folder or a study-times CSV and write the leaderboard files.

    from scoring import leaderboard
    result = leaderboard.write_leaderboard(experiment_dir=..., output_dir=..., rules_version='v0.6',
                                           ruleset='external', strict=False)
    result.scores          # {submission: score}
    result.paths['html']   # and 'scores_csv', 'time_to_targets_csv', ... (see FILES)
"""
import collections
import dataclasses
import pathlib

from scoring import aggregate
from scoring import eval_logs
from scoring import html_page
from scoring import plots
from scoring import problems as P
from scoring import profiles
from scoring import rules as R
from scoring import study_times as st
from scoring import tables
from scoring import targets as T
from scoring import time_to_target as ttt

# Output key -> file name inside output_dir.
FILES = {
    'scores_csv': 'scores.csv',
    'time_to_targets_csv': 'time_to_targets.csv',
    'performance_profiles_csv': 'performance_profiles.csv',
    'study_times_csv': 'study_times.csv',
    'performance_profile_png': 'performance_profile.png',
    'markdown': 'leaderboard.md',
    'html': 'leaderboard.html',
}


@dataclasses.dataclass
class Scoring:
  """Everything computed from one input; the renderers read only this."""
  rules: R.Rules
  ruleset: str
  source: str                 # what was scored, for the page header
  options: dict               # the choices that change numbers (best trial by, budget, ...)
  table: aggregate.TimeTable
  result: profiles.Scores
  records: list               # StudyTime
  targets: dict               # workload -> Target, where known
  curves: dict                # workload -> [plots.Curve] (logs input only)
  problems: P.Problems

  @property
  def scores(self):
    return {s: float(v) for s, v in zip(self.result.submissions, self.result.scores)}

  @property
  def warnings(self):
    return self.problems.messages()


@dataclasses.dataclass
class LeaderboardResult:
  """What write_leaderboard wrote: file paths by key (see FILES), scores, ranking and warnings."""
  output_dir: pathlib.Path
  paths: dict
  scores: dict
  ranking: list               # [(rank, submission, score)], best first
  warnings: list
  scoring: Scoring


def score(*, experiment_dir=None, study_times=None, rules_version=R.DEFAULT_VERSION,
          ruleset=R.EXTERNAL, strict=False, best_trial_by=ttt.BY_TIME, framework=None,
          num_studies=None, num_trials=None, workloads=None, enforce_budget=True):
  """Score one input (exactly one of experiment_dir and study_times) without writing files.

  framework: None scores every framework (a submission run in both gets one row per framework);
  'jax' or 'pytorch' scores only that framework's runs. num_studies / num_trials override the
  rules' counts (e.g. a reduced benchmark run of 1 study). workloads fixes the scored base
  workloads (default: every base workload in the input).
  """
  if (experiment_dir is None) == (study_times is None):
    raise P.ScoringError('give exactly one input: an experiment folder or a study-times CSV')
  if best_trial_by not in ttt.BEST_TRIAL_CHOICES:
    raise P.ScoringError(f'unknown best-trial choice {best_trial_by!r}; use time or eval_index')
  if framework not in (None, 'all') + eval_logs.FRAMEWORKS:
    raise P.ScoringError(f'unknown framework {framework!r}; use jax, pytorch or all')
  framework = None if framework == 'all' else framework
  rules = R.get_rules(rules_version)
  R.check_ruleset(ruleset)
  problems = P.Problems(strict=strict)
  curves, targets = {}, {}
  if experiment_dir is not None:
    experiment = eval_logs.read_experiment(experiment_dir, rules.version, problems, framework)
    records, sources = st.from_experiment(experiment, rules, ruleset, best_trial_by, enforce_budget)
    if not experiment.trials:
      raise P.ScoringError(f'{experiment_dir}: found no trial folders to score; expected '
                           '<submission>/study_<k>/<workload>_<jax|pytorch>/trial_<i>/')
    curves, targets = _curves(experiment)
    source = f'experiment folder {experiment_dir}'
  else:
    records, sources = st.read_csv(study_times, problems)
    if not records:
      raise P.ScoringError(f'{study_times}: no readable rows of per-study times')
    if enforce_budget:
      records = _apply_budgets(records, rules, ruleset)
    source = f'study times {study_times}'
  table = aggregate.aggregate(records, sources, rules, ruleset, problems, num_studies, num_trials,
                              workloads)
  for workload in table.workloads:
    if workload not in targets:
      known = T.published(workload, rules.version)
      if known is not None:
        targets[workload] = known
  options = {'best_trial_by': best_trial_by, 'enforce_budget': enforce_budget,
             'framework': framework or 'all', 'strict': strict,
             'num_studies': num_studies or rules.num_studies,
             'num_trials': num_trials or rules.num_trials(ruleset)}
  return Scoring(rules, ruleset, source, options, table, profiles.score_table(table, rules),
                 records, targets, curves, problems)


def _apply_budgets(records, rules, ruleset):
  """A published time beyond the workload's budget is a miss (the v0.5 runner's free eval)."""
  kept = []
  for r in records:
    target = T.published(r.workload, rules.version)
    limit = target.max_runtime_sec * rules.budget_factor(ruleset) if target else float('inf')
    kept.append(dataclasses.replace(r, time_sec=float('inf')) if r.time_sec > limit else r)
  return kept


def _curves(experiment):
  """Training curves per workload, labelled like the leaderboard rows, and each workload's target."""
  frameworks = collections.defaultdict(set)
  for trial in experiment.trials:
    frameworks[trial.submission].add(trial.framework)
  curves, targets = collections.defaultdict(list), {}
  for trial in experiment.trials:
    label = st.submission_label(trial.submission, trial.framework, frameworks[trial.submission])
    curves[trial.workload].append(plots.Curve(label, trial.times, trial.values))
    targets.setdefault(trial.workload, trial.target)
  return dict(curves), targets


def write_leaderboard(*, output_dir, experiment_dir=None, study_times=None,
                      rules_version=R.DEFAULT_VERSION, ruleset=R.EXTERNAL, strict=False, **options):
  """Score the input and write every leaderboard file into output_dir (created if needed).

  Raises scoring.problems.ScoringError on unusable input, or on any bad input when strict.
  Other keyword options are those of `score`.
  """
  scoring = score(experiment_dir=experiment_dir, study_times=study_times,
                  rules_version=rules_version, ruleset=ruleset, strict=strict, **options)
  out = pathlib.Path(output_dir)
  out.mkdir(parents=True, exist_ok=True)
  paths = {key: out / name for key, name in FILES.items()}
  tables.write_scores_csv(paths['scores_csv'], scoring)
  tables.write_time_to_targets_csv(paths['time_to_targets_csv'], scoring)
  tables.write_profiles_csv(paths['performance_profiles_csv'], scoring)
  st.write_csv(paths['study_times_csv'], scoring.records)
  title = f'Performance profiles ({rules_version} rules, {ruleset} tuning)'
  png = plots.performance_profile_png(scoring.result, title)
  paths['performance_profile_png'].write_bytes(png)
  paths['markdown'].write_text(tables.markdown(scoring, FILES['performance_profile_png']))
  paths['html'].write_text(html_page.render(scoring, png))
  return LeaderboardResult(out, paths, scoring.scores, scoring.result.ranking(), scoring.warnings,
                           scoring)

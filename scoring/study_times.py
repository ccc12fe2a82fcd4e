"""Per-study times: derived from trial logs, or read from a CSV `submission,workload,study,time_sec`.

The CSV lets published numbers be scored without logs; scoring logs writes the same file, so a
run can be rescored (or compared with upstream's numbers) from it.
"""
import collections
import csv
import dataclasses
import math

from scoring import problems as P
from scoring import time_to_target as ttt

COLUMNS = ('submission', 'workload', 'study', 'time_sec')


@dataclasses.dataclass(frozen=True)
class StudyTime:
  """Best-trial time to target of one study (inf: no trial reached it)."""
  submission: str
  workload: str
  study: str
  time_sec: float
  source: str                 # file or folder named in warnings
  num_trials: int = None      # None when unknown (CSV input)
  best_trial: str = None      # folder name of the trial that counted, if any


def submission_label(name, framework, frameworks_of_submission):
  """A submission run in both frameworks gives two leaderboard rows, `name[jax]` and `name[pytorch]`."""
  if len(frameworks_of_submission) > 1:
    return f'{name}[{framework}]'
  return name


def from_experiment(experiment, rules, ruleset, by=ttt.BY_TIME, enforce_budget=True):
  """StudyTime records and submission labels (with their folders) for an experiment's trials."""
  frameworks = collections.defaultdict(set)
  for trial in experiment.trials:
    frameworks[trial.submission].add(trial.framework)
  groups = collections.defaultdict(list)
  for trial in experiment.trials:
    label = submission_label(trial.submission, trial.framework, frameworks[trial.submission])
    groups[(label, trial.workload, trial.study, trial.framework)].append(trial)
  records = []
  for (label, workload, study, framework), trials in sorted(groups.items()):
    hits = []
    for trial in trials:
      budget = trial.target.max_runtime_sec * rules.budget_factor(ruleset) if enforce_budget else math.inf
      hits.append(ttt.first_hit(trial.times, trial.values, trial.target, budget))
    index = ttt.best_trial(hits, by)
    source = trial.directory.parent.parent.parent / 'study_*' / trial.directory.parent.name
    records.append(StudyTime(
        submission=label, workload=workload, study=study,
        time_sec=math.inf if index is None else hits[index].time_sec, source=str(source),
        num_trials=len(trials), best_trial=None if index is None else trials[index].trial))
  sources = {}
  for name, folder in experiment.submissions.items():
    for framework in sorted(frameworks[name]) or [None]:
      sources[submission_label(name, framework, frameworks[name])] = str(folder)
  return records, sources


def read_csv(path, problems):
  """StudyTime records of a per-study CSV; `inf` marks a study that missed the target."""
  try:
    with open(path, newline='') as f:
      rows = [row for row in csv.reader(f) if row]
  except OSError as e:
    raise P.ScoringError(f'{path}: cannot read the study-times CSV ({e.strerror})') from None
  if not rows:
    raise P.ScoringError(f'{path}: empty study-times CSV; expected the header {",".join(COLUMNS)}')
  header = [h.strip() for h in rows[0]]
  absent = [c for c in COLUMNS if c not in header]
  if absent:
    raise P.ScoringError(f'{path}: the study-times CSV lacks the column(s) {", ".join(absent)}; '
                         f'expected the header {",".join(COLUMNS)}')
  index = {c: header.index(c) for c in COLUMNS}
  records, seen, bad, nans, dups = [], set(), 0, 0, 0
  for row in rows[1:]:
    if len(row) != len(header):
      bad += 1
      continue
    sub, wl, study, text = (row[index[c]].strip() for c in COLUMNS)
    try:
      time_sec = float(text) if text else math.nan
    except ValueError:
      bad += 1
      continue
    if math.isnan(time_sec):
      nans += 1
      time_sec = math.inf
    if (sub, wl, study) in seen:
      dups += 1
      continue
    seen.add((sub, wl, study))
    records.append(StudyTime(sub, wl, study, time_sec, str(path)))
  if bad:
    problems.report(P.TRUNCATED, path, f'{bad} of {len(rows) - 1} rows are cut short or unreadable '
                    '(truncated CSV?); their studies count as missing')
  if nans:
    problems.report(P.NAN, path, f'{nans} rows have a NaN or empty time_sec; they count as infinite')
  if dups:
    problems.report(P.DUPLICATE, path, f'{dups} rows repeat a (submission, workload, study); '
                    'kept the first of each')
  sources = {r.submission: str(path) for r in records}
  return records, sources


def format_time(time_sec):
  return 'inf' if math.isinf(time_sec) else repr(float(time_sec))


def write_csv(path, records):
  with open(path, 'w', newline='') as f:
    writer = csv.writer(f, lineterminator='\n')
    writer.writerow(COLUMNS)
    for r in records:
      writer.writerow([r.submission, r.workload, r.study, format_time(r.time_sec)])

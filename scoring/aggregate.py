"""From per-study times to one time per (submission, workload), checking counts against the rules."""
import collections
import dataclasses
import math

import numpy as np

from scoring import problems as P
from scoring import targets as T
from scoring import time_to_target as ttt


@dataclasses.dataclass
class TimeTable:
  """Median times: rows are submissions, columns are scored bases followed by their held-out variants."""
  submissions: list
  bases: list
  variants: dict              # base -> held-out variant column (v0.5 only)
  workloads: list             # all columns: bases, then variants
  times: np.ndarray           # shape (len(submissions), len(workloads))
  studies: dict               # (submission, workload) -> [StudyTime]
  ignored: list               # workloads in the input that the rules do not score


def columns(workload_names, rules, requested=None):
  """(bases, variants, ignored): which input workloads the rules score.

  Bases are every name that is not a registry variant. Under v0.5 a base's held-out variant is
  scored with it; other variants (and all variants under v0.6) are ignored.
  """
  names = set(workload_names)
  held_out = rules.variants
  if requested:
    bases = list(requested)
  else:
    bases = sorted(n for n in names
                   if n not in held_out and T.base_workload(n, rules.version) == n)
  variants = {b: rules.held_out[b] for b in bases if b in rules.held_out}
  scored = set(bases) | set(variants.values())
  ignored = sorted(names - scored)
  return bases, variants, ignored


def aggregate(records, sources, rules, ruleset, problems, num_studies=None, num_trials=None,
              workloads=None):
  """TimeTable of median-over-studies times; missing data count as infinite (with a warning)."""
  num_studies = num_studies or rules.num_studies
  num_trials = num_trials or rules.num_trials(ruleset)
  by_cell = collections.defaultdict(list)
  for r in records:
    by_cell[(r.submission, r.workload)].append(r)
  submissions = sorted(set(sources) | {r.submission for r in records})
  bases, variants, ignored = columns({r.workload for r in records}, rules, workloads)
  all_columns = bases + [variants[b] for b in bases if b in variants]
  times = np.full((len(submissions), len(all_columns)), math.inf)
  for i, sub in enumerate(submissions):
    for j, wl in enumerate(all_columns):
      cell = sorted(by_cell.get((sub, wl), []), key=lambda r: r.study)
      if not cell:
        problems.report(P.MISSING, sources.get(sub, sub),
                        f'submission {sub!r} has no data for workload {wl!r}; its time is infinite')
        continue
      where = cell[0].source
      # A truncated CSV already warned; the studies it lost are its consequence, not news.
      if len(cell) != num_studies and not problems.reported(P.TRUNCATED, where):
        extra = (f'the missing ones count as infinite (for a reduced run, score with '
                 f'--num_studies={len(cell)})' if len(cell) < num_studies
                 else 'the median is taken over all of them')
        problems.report(P.COUNT, where, f'{len(cell)} studies of {wl!r} for {sub!r}, but the '
                        f'{rules.version} rules have {num_studies}; {extra}')
      odd = [r for r in cell if r.num_trials is not None and r.num_trials != num_trials]
      if odd:
        listed = ', '.join(f'{r.study}: {r.num_trials}' for r in odd)
        problems.report(P.COUNT, where, f'trials per study of {wl!r} for {sub!r} differ from the '
                        f'{num_trials} of the {rules.version} {ruleset} rules ({listed}); '
                        'the best of those present counts (for a reduced run, score with '
                        f'--num_trials={min(r.num_trials for r in odd)})')
      times[i, j] = ttt.workload_time([r.time_sec for r in cell], num_studies)
  studies = {key: sorted(value, key=lambda r: r.study) for key, value in by_cell.items()}
  return TimeTable(submissions, bases, variants, all_columns, times, studies, ignored)


@dataclasses.dataclass(frozen=True)
class Found:
  """What the input held for one (submission, workload): studies, and trials in each (None: unknown)."""
  submission: str
  workload: str
  num_studies: int
  trials_per_study: tuple


def found_counts(table):
  """One Found per (submission, scored workload) cell with data, in table order."""
  found = []
  for sub in table.submissions:
    for wl in table.workloads:
      cell = table.studies.get((sub, wl), [])
      if cell:
        found.append(Found(sub, wl, len(cell), tuple(r.num_trials for r in cell)))
  return found


def describe_found(found, expected_studies, expected_trials):
  """'mnist: 1 study (5 trials); expected 3 studies of 5 trials' for the CLI and the page."""
  trials = sorted({t for t in found.trials_per_study if t is not None})
  if not trials:
    trial_text = 'trials unknown'
  elif len(trials) == 1:
    trial_text = f'{trials[0]} trial{"s" if trials[0] != 1 else ""} each'
  else:
    trial_text = f'{trials[0]}-{trials[-1]} trials each'
  text = (f'{found.submission} on {found.workload}: {found.num_studies} '
          f'stud{"ies" if found.num_studies != 1 else "y"} ({trial_text})')
  short = found.num_studies < expected_studies or any(
      t is not None and t < expected_trials for t in found.trials_per_study)
  if short:
    text += f'; the rules expect {expected_studies} studies of {expected_trials} trials'
  return text

"""Reads experiment folders: <experiment_dir>/<submission>/study_<k>/<workload>_<framework>/trial_<i>/.

The same layout is written by our runner and by upstream's, so both are read alike. Each trial
folder holds eval_measurements.csv and, when the runner wrote it, meta_data_0.json.
"""
import csv
import dataclasses
import json
import math
import pathlib
import re

import numpy as np

from algoperf import logger_utils
from scoring import problems as P
from scoring import targets as T

EVAL_FILE = 'eval_measurements.csv'
META_FILE = 'meta_data_0.json'
TIME_COLUMNS = ('accumulated_submission_time', 'score')  # upstream's `score` equals the first
FRAMEWORKS = ('jax', 'pytorch')

_STUDY = re.compile(r'^study_(\d+)$')
_TRIAL = re.compile(r'^trial_(\d+)$')
_WORKLOAD = re.compile(r'^(?P<workload>.+)_(?P<framework>jax|pytorch)$')


@dataclasses.dataclass
class Trial:
  """One trial's eval curve and the target it is judged against."""
  submission: str
  framework: str
  study: str
  workload: str
  trial: str
  directory: pathlib.Path
  target: T.Target
  times: np.ndarray
  values: np.ndarray


@dataclasses.dataclass
class Experiment:
  """All trials found, plus every submission folder (one that ran nothing still gets a row)."""
  root: pathlib.Path
  submissions: dict        # submission name -> its folder
  trials: list


def _numbered(directory, pattern):
  """Children matching pattern, in numeric order (trial_10 after trial_9)."""
  found = []
  for child in directory.iterdir():
    match = pattern.match(child.name)
    if match and child.is_dir():
      found.append((int(match.group(1)), child))
  return [child for _, child in sorted(found)]


def submission_dirs(experiment_dir):
  """Submission folders: those holding study_* folders; a folder that holds study_* itself is one.

  Other folders (a leaderboard written next to the runs, notes, ...) are not submissions.
  """
  root = pathlib.Path(experiment_dir)
  if not root.is_dir():
    raise P.ScoringError(f'{root}: no such experiment folder')
  if _numbered(root, _STUDY):
    return {root.name: root}
  return {child.name: child for child in sorted(root.iterdir())
          if child.is_dir() and _numbered(child, _STUDY)}


def read_meta(trial_dir):
  return _read_json_object(trial_dir / META_FILE)


def _read_json_object(path):
  """The JSON object in path, or {} where it is absent or unreadable."""
  if not path.exists():
    return {}
  try:
    with open(path) as f:
      value = json.load(f)
  except (OSError, ValueError):
    return {}
  return value if isinstance(value, dict) else {}


def read_eval_measurements(path, metric, problems):
  """(times, metric values) of the eval rows; bad rows are dropped with one warning per file."""
  empty = np.zeros(0), np.zeros(0)
  with open(path, newline='') as f:
    rows = [row for row in csv.reader(f) if row]
  if not rows:
    problems.report(P.TRUNCATED, path, 'empty file (no header, no evals); the trial counts as a miss')
    return empty
  header, body = rows[0], rows[1:]
  time_column = next((c for c in TIME_COLUMNS if c in header), None)
  metric_column = next((c for c in (f'validation/{metric}', metric) if c in header), None)
  if time_column is None or metric_column is None:
    missing = 'accumulated_submission_time (or score)' if time_column is None else f'validation/{metric}'
    kind = P.TRUNCATED if not body else P.MISSING
    problems.report(kind, path, f'no column {missing}; the trial counts as a miss')
    return empty
  ti, mi = header.index(time_column), header.index(metric_column)
  times, values, bad = [], [], 0
  for row in body:
    if len(row) != len(header):
      bad += 1
      continue
    try:
      time_sec = float(row[ti])
      value = float(row[mi]) if row[mi].strip() else math.nan
    except ValueError:
      bad += 1
      continue
    if math.isnan(time_sec):
      bad += 1
      continue
    times.append(time_sec)
    values.append(value)
  if bad:
    problems.report(P.TRUNCATED, path, f'{bad} of {len(body)} eval rows are cut short or unreadable '
                    '(truncated CSV?); scored the rest')
  values = np.asarray(values, dtype=float)
  nans = int(np.isnan(values).sum())
  if nans:
    problems.report(P.NAN, path, f'{nans} of {len(values)} evals have a NaN {metric_column}; '
                    'they never reach the target')
  return np.asarray(times, dtype=float), values


def paired_name(folder_name, folder_names):
  """'nadamw_jax' -> 'nadamw' when 'nadamw_pytorch' is also there (one framework per folder, as upstream's
  scorer needs); any other folder name is the submission's name."""
  for fw in FRAMEWORKS:
    if folder_name.endswith('_' + fw):
      stem = folder_name[:-len(fw) - 1]
      others = [f'{stem}_{other}' for other in FRAMEWORKS if other != fw]
      if stem and any(other in folder_names for other in others):
        return stem
  return folder_name


def read_experiment(experiment_dir, rules_version, problems, framework=None):
  """Every trial under experiment_dir, each with its target (metadata first, then the table).

  A submission run in both frameworks may sit in one folder or in two, `<name>_jax` and
  `<name>_pytorch` (the benchmark's layout, which upstream's scorer reads); either way its trials are
  labelled `<name>` and the leaderboard pairs them as `name[jax]` and `name[pytorch]`.
  """
  folders = submission_dirs(experiment_dir)
  trials, submissions = [], {}
  for folder_name, sub_dir in folders.items():
    submission = paired_name(folder_name, folders)
    submissions.setdefault(submission, sub_dir)
    for study_dir in _numbered(sub_dir, _STUDY):
      for wl_dir in sorted(study_dir.iterdir()):
        match = _WORKLOAD.match(wl_dir.name)
        if not (match and wl_dir.is_dir()):
          continue
        workload, fw = match.group('workload'), match.group('framework')
        if framework and fw != framework:
          continue
        for trial_dir in _numbered(wl_dir, _TRIAL):
          trial = _read_trial(submission, fw, study_dir.name, workload, trial_dir, rules_version,
                              problems)
          if trial is not None:
            trials.append(trial)
  return Experiment(pathlib.Path(experiment_dir), submissions, trials)


def _read_trial(submission, framework, study, workload, trial_dir, rules_version, problems):
  target = T.from_metadata(workload, read_meta(trial_dir), rules_version)
  if target is None:
    problems.report(P.UNKNOWN, trial_dir, f'no target for workload {workload!r}: neither '
                    f'{META_FILE} nor the {rules_version} table has one; the trial is skipped')
    return None
  path = trial_dir / EVAL_FILE
  if path.exists():
    times, values = read_eval_measurements(path, target.metric, problems)
  else:
    times, values = np.zeros(0), np.zeros(0)
    # A trial that ran to its end may have no eval: its first eval gate came after the budget (a first step,
    # compilation included, longer than a lite budget). A miss, and nothing wrong with the logs.
    if _read_json_object(trial_dir / logger_utils.STATUS_FILE).get('status') != 'completed':
      problems.report(P.MISSING, path, 'file missing; the trial counts as a miss')
  return Trial(submission, framework, study, workload, trial_dir.name, trial_dir, target, times,
               values)

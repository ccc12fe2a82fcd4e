"""Upstream's folder rules, restated from the spec to check that upstream's scorer can read our folders.

Not used for scoring (eval_logs.py is our reader); tests point this at the benchmark's experiment folders.
The rules (spec/harness.md §4.1-4.2): every entry of the directory given is a submission; inside one,
every entry is a study; every folder in a study is `<workload>_<framework>`; trials are `trial_<n>`
folders holding eval_measurements.csv. Per submission the trials are tabled by (workload without the
framework, study, trial), and a duplicate entry is an error (pandas' pivot: "Index contains duplicate
entries"), so a submission folder must hold one framework. A trial's time is the `score` at its first eval
that reaches the target (non-strict); the study keeps the trial with the smallest such eval index; the
workload's time is the median over studies.
"""
import os
import re
from typing import Dict

import numpy as np
import pandas as pd

TRIAL = re.compile(r'^trial_\d+$')
WORKLOAD = re.compile(r'^(.*)_(jax|pytorch)$')


def read(submission_directory: str, targets: Dict[str, tuple]) -> Dict[str, Dict[str, float]]:
  """{submission: {workload: median time}}; targets maps a workload to (metric, target, minimize).

  Raises where upstream's scorer fails: NotADirectoryError for a file among the submissions' entries (a
  leaderboard folder), ValueError for two frameworks in one submission folder.
  """
  results = {}
  for submission in os.listdir(submission_directory):
    rows = []
    sub_dir = os.path.join(submission_directory, submission)
    for study in os.listdir(sub_dir):
      study_dir = os.path.join(sub_dir, study)
      for wl_folder in os.listdir(study_dir):
        if not os.path.isdir(os.path.join(study_dir, wl_folder)):
          continue
        for trial in filter(TRIAL.match, os.listdir(os.path.join(study_dir, wl_folder))):
          frame = pd.read_csv(os.path.join(study_dir, wl_folder, trial, 'eval_measurements.csv'))
          rows.append({'workload': WORKLOAD.match(wl_folder).group(1), 'study': study, 'trial': trial,
                       'frame': frame})
    table = pd.DataFrame(rows)
    table['n'] = range(len(table))
    table.pivot(index=['study', 'trial'], columns='workload', values='n')  # Duplicates raise, as upstream.
    results[submission] = {}
    for workload, group in table.groupby('workload'):
      metric, target, minimize = targets[workload]
      study_times = []
      for _, study_group in group.groupby('study'):
        best_index, best_time = np.inf, np.inf
        for frame in study_group['frame']:
          values = frame[f'validation/{metric}'].to_numpy()
          hit = values <= target if minimize else values >= target
          if hit.any() and int(np.argmax(hit)) < best_index:
            best_index = int(np.argmax(hit))
            best_time = float(frame['score'].to_numpy()[best_index])
        study_times.append(best_time)
      results[submission][workload] = float(np.median(study_times))
  return results

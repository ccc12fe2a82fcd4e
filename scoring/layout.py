"""The experiment folder the benchmark writes, laid out so that upstream's scorer reads it as written.

    <experiment_dir>/
      external_tuning/                  one folder per ruleset run: an upstream-format experiment folder
        <submission>/study_<k>/<workload>_<framework>/trial_<i>/     (one framework ran)
        <submission>_jax/...  <submission>_pytorch/...                (both ran: one framework per folder)
      self_tuning/...
      leaderboard/                      beside the ruleset folders, never among the submissions

Upstream's scorer takes every folder in the directory it is given as a submission, and a submission
folder that holds both frameworks gives it two rows per workload (it then fails on a duplicate index).
Our scorer reads the same folders and pairs `<name>_jax` with `<name>_pytorch` again
(eval_logs.paired_name), so the leaderboard still shows `name[jax]` and `name[pytorch]`.
"""
import os
from typing import Sequence

RULESET_FOLDERS = {'external': 'external_tuning', 'self': 'self_tuning'}
LEADERBOARD_FOLDER = 'leaderboard'


def ruleset_dir(experiment_dir: str, ruleset: str) -> str:
  if ruleset not in RULESET_FOLDERS:
    raise ValueError(f'Unknown tuning ruleset {ruleset!r}; use "external" or "self".')
  return os.path.join(experiment_dir, RULESET_FOLDERS[ruleset])


def submission_folder(submission: str, framework: str, frameworks: Sequence[str]) -> str:
  """The folder name of a submission's runs: one framework per folder when several run."""
  return f'{submission}_{framework}' if len(set(frameworks)) > 1 else submission


def workload_dir(experiment_dir: str, ruleset: str, submission: str, framework: str, frameworks: Sequence[str],
                 study: int, workload: str) -> str:
  """<experiment_dir>/<ruleset>_tuning/<submission folder>/study_<k>/<workload>_<framework>."""
  return os.path.join(ruleset_dir(experiment_dir, ruleset), submission_folder(submission, framework, frameworks),
                      f'study_{study}', f'{workload}_{framework}')


def leaderboard_dir(experiment_dir: str, ruleset: str, rulesets: Sequence[str]) -> str:
  """<experiment_dir>/leaderboard, with one sub-folder per ruleset when several ran."""
  root = os.path.join(experiment_dir, LEADERBOARD_FOLDER)
  return os.path.join(root, RULESET_FOLDERS[ruleset]) if len(set(rulesets)) > 1 else root

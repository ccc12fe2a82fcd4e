"""Command line: bazel run //scoring:score -- (--experiment_dir=DIR | --study_times=FILE.csv)
--rules_version=v0.5|v0.6 --ruleset=external|self --output_dir=OUT [--strict] ...
"""
import argparse
import logging
import os
import pathlib
import sys

from scoring import aggregate
from scoring import leaderboard
from scoring import problems as P
from scoring import rules as R
from scoring import time_to_target as ttt


def _path(text):
  """Relative paths are relative to where `bazel run` was started, not to the runfiles tree."""
  path = pathlib.Path(text).expanduser()
  base = os.environ.get('BUILD_WORKING_DIRECTORY')
  return path if path.is_absolute() or not base else pathlib.Path(base) / path


def parser():
  p = argparse.ArgumentParser(prog='score', description=(
      'Score AlgoPerf runs (an experiment folder of trial logs, or a CSV of per-study times) and '
      'write the leaderboard: scores.csv, time_to_targets.csv, performance_profiles.csv, '
      'performance_profile.png, leaderboard.md, leaderboard.html.'))
  source = p.add_mutually_exclusive_group(required=True)
  source.add_argument('--experiment_dir', type=_path,
                      help='<dir>/<submission>/study_<k>/<workload>_<framework>/trial_<i>/')
  source.add_argument('--study_times', type=_path,
                      help='CSV with columns submission,workload,study,time_sec (inf = missed)')
  p.add_argument('--output_dir', type=_path, required=True)
  p.add_argument('--rules_version', choices=sorted(R.RULES), default=R.DEFAULT_VERSION)
  p.add_argument('--ruleset', choices=R.RULESETS, default=R.EXTERNAL)
  p.add_argument('--strict', action='store_true', help='turn every warning about bad input into an error')
  p.add_argument('--best_trial_by', choices=ttt.BEST_TRIAL_CHOICES, default=ttt.BY_TIME,
                 help='time (the rules) or eval_index (upstream scorer)')
  p.add_argument('--framework', choices=['all', 'jax', 'pytorch'], default='all',
                 help='score only one framework; with all, a submission run in both gets two rows')
  p.add_argument('--num_studies', type=int, help='override the rules (e.g. a 1-study test run)')
  p.add_argument('--num_trials', type=int, help='override the rules')
  p.add_argument('--workloads', help='comma-separated base workloads to score (default: all found)')
  p.add_argument('--enforce_budget', action=argparse.BooleanOptionalAction, default=True,
                 help='a target reached after the budget does not count (default: on)')
  return p


def main(argv=None):
  args = parser().parse_args(argv)
  logging.basicConfig(format='score: warning: %(message)s', level=logging.WARNING)
  try:
    result = leaderboard.write_leaderboard(
        experiment_dir=args.experiment_dir, study_times=args.study_times,
        output_dir=args.output_dir, rules_version=args.rules_version, ruleset=args.ruleset,
        strict=args.strict, best_trial_by=args.best_trial_by, framework=args.framework,
        num_studies=args.num_studies, num_trials=args.num_trials,
        workloads=args.workloads.split(',') if args.workloads else None,
        enforce_budget=args.enforce_budget)
  except P.ScoringError as e:
    print(f'score: error: {e}', file=sys.stderr)
    return 2
  table = result.scoring.table
  options = result.scoring.options
  n, m = options['num_studies'], options['num_trials']
  print(f'found ({n} stud{"y" if n == 1 else "ies"} of {m} trial{"" if m == 1 else "s"} expected):')
  for found in aggregate.found_counts(table):
    print('  ' + aggregate.describe_found(found, options['num_studies'], options['num_trials']))
  for rank, submission, value in result.ranking:
    print(f'{rank:>3}  {value:.4f}  {submission}')
  print(f'{len(result.warnings)} warning(s); wrote {", ".join(p.name for p in result.paths.values())} '
        f'to {result.output_dir}')
  return 0


if __name__ == '__main__':
  sys.exit(main())

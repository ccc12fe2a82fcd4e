"""The main job: submissions x workloads x frameworks x studies x trials, then the leaderboard.

  bazel run //tools:benchmark                       # the default suite (MNIST, lite scale, v0.6 rules)
  bazel run //tools:benchmark -- --workloads=mnist,cifar --submissions=nadamw_baseline --framework=jax \
      --num_studies=1 --num_trials=2 --experiment_dir=/tmp/bench --seed=0

Datasets that are missing are built first (tools:make_datasets). Trials follow the rules (per-study draws
from the search space, per-trial seeds); each prints one line when it ends, and long trials print a
progress line every --progress_sec. The experiment folder is laid out for upstream's scorer (scoring/layout.py):
each ruleset's runs form an upstream-format experiment folder, <experiment_dir>/<ruleset>_tuning/<submission>/
study_<k>/<workload>_<framework>/trial_<i>/, with one framework per submission folder (<submission>_jax,
<submission>_pytorch) when both run; the leaderboard goes to <experiment_dir>/leaderboard/, beside them (one
sub-folder per ruleset with --ruleset=both). The exit status is 1 when no trial completed.
"""
import dataclasses
import os
import sys
import time
from typing import List

from absl import app
from absl import flags

from algoperf import trial_process

flags.DEFINE_list('workloads', ['mnist'], 'Workload keys to run.')
flags.DEFINE_list('submissions', ['nadamw_baseline'], 'Submission folders under submissions/<ruleset>/.')
flags.DEFINE_enum('framework', 'both', ['jax', 'pytorch', 'both'], 'Frameworks to run.')
flags.DEFINE_enum('ruleset', 'external', ['external', 'self', 'both'], 'Tuning ruleset(s).')
flags.DEFINE_enum('rules_version', 'v0.6', ['v0.5', 'v0.6'], 'Rules version.')
flags.DEFINE_integer('num_studies', None, 'Studies per workload (default: the rules).')
flags.DEFINE_integer('num_trials', None, 'Trials per study for external tuning (default: the rules).')
flags.DEFINE_enum('scale', 'lite', ['full', 'lite', 'smoke'], 'Workload scale.')
flags.DEFINE_string('experiment_dir', None, 'Output folder (default: ~/algoperf_experiments/<time>).')
flags.DEFINE_string('data_dir', os.environ.get('ALGOPERF_DATA_DIR', '~/algoperf_data'), 'Dataset folder.')
flags.DEFINE_integer('seed', 0, 'Base seed; every trial derives its own.')
flags.DEFINE_integer('max_global_steps', None, 'Cap on steps per trial (for quick looks).')
flags.DEFINE_float('progress_sec', 30.0, 'Seconds between progress lines within a long trial.')
trial_process.define_flags(flags)
FLAGS = flags.FLAGS

SUBMISSIONS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'submissions')


def submission_files(name: str, ruleset: str, framework: str):
  """(submission.py, search space or None) of a submission folder."""
  folder = os.path.join(SUBMISSIONS_DIR, f'{ruleset}_tuning', name)
  if not os.path.isdir(folder):
    known = sorted(os.listdir(os.path.join(SUBMISSIONS_DIR, f'{ruleset}_tuning')))
    raise ValueError(f'No {ruleset}-tuning submission {name!r}; choose from: {", ".join(known)}.')
  path = os.path.join(folder, f'{framework}_submission.py')
  if not os.path.exists(path):
    raise ValueError(f'Submission {name!r} has no {framework} version ({path} is missing); pick the other '
                     'framework with --framework.')
  space = os.path.join(folder, 'tuning_search_space.json')
  return path, (space if ruleset == 'external' else None)


def ensure_datasets(workload_names: List[str], data_dir: str) -> None:
  from tools import datasets  # pylint: disable=import-outside-toplevel
  from workloads import registry  # pylint: disable=import-outside-toplevel
  for dataset in sorted({registry.dataset_of(w) for w in workload_names}):
    start = time.time()
    folder = datasets.build(dataset, data_dir)
    print(f'dataset {dataset}: {folder} ({time.time() - start:.1f}s)', flush=True)


def make_plans(experiment_dir: str, submissions: List[str], workloads: List[str], frameworks: List[str],
               ruleset: str, num_studies: int, num_trials: int, seed: int, **common) -> List:
  """Every trial of the run, in order, as TrialSpecs (upstream's experiment layout).

  `common` holds the TrialSpec fields all trials share (rules_version, scale, data_dir, max_global_steps, ...).
  """
  from algoperf import trials as trials_lib  # pylint: disable=import-outside-toplevel
  from algoperf import tuning  # pylint: disable=import-outside-toplevel
  from scoring import layout  # pylint: disable=import-outside-toplevel
  specs = []
  for submission in submissions:
    for workload in workloads:
      for framework in frameworks:
        path, space_path = submission_files(submission, ruleset, framework)
        if space_path:
          space = tuning.load_search_space(space_path)
          search_seed = tuning.trial_seed(seed, submission, workload, 'search', 0)
          studies = tuning.trials_for_studies(space, num_studies, num_trials, search_seed, space_path)
        else:
          studies = [[None] for _ in range(num_studies)]
        for study, points in enumerate(studies):
          log_dir = layout.workload_dir(experiment_dir, ruleset, submission, framework, frameworks, study, workload)
          specs += trials_lib.plan_trials(
              points, submission_path=path, workload=workload, framework=framework, study=study, base_seed=seed,
              log_dir=log_dir, label=f'{submission} {workload} {framework} {ruleset} study {study} ',
              ruleset=ruleset, **common)
  return specs


def run_all(specs: List, executor=None) -> List:
  """Runs the trials through the executor (in this process when None), a line each as it ends; returns the
  results in the order of specs. A submission that cannot run stops the run."""
  from algoperf import trials as trials_lib  # pylint: disable=import-outside-toplevel
  specs = [dataclasses.replace(spec, label=f'[{i + 1}/{len(specs)}] {spec.label}') for i, spec in enumerate(specs)]
  results = [None] * len(specs)
  start = time.time()
  for i, result in trial_process.run_many(specs, executor):
    wall_sec = result.wall_sec if result.wall_sec is not None else time.time() - start
    print(trials_lib.result_line(specs[i].label, result, wall_sec), flush=True)
    results[i] = result
  return results


def main(argv):
  del argv
  from algoperf import rules as rules_lib  # pylint: disable=import-outside-toplevel
  from algoperf.paths import resolve_user_path  # pylint: disable=import-outside-toplevel
  from algoperf.runner import configure_frameworks  # pylint: disable=import-outside-toplevel
  started = time.time()
  frameworks = ['jax', 'pytorch'] if FLAGS.framework == 'both' else [FLAGS.framework]
  try:
    executor = trial_process.executor_from_flags(FLAGS)
  except ValueError as e:  # E.g. --executor=ray with no cluster at --ray_address.
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  if executor is None:  # Trials run in this process.
    for framework in reversed(frameworks):
      configure_frameworks(framework)
  rules = rules_lib.get_rules(FLAGS.rules_version)
  num_studies = FLAGS.num_studies or rules.num_studies
  rulesets = ['external', 'self'] if FLAGS.ruleset == 'both' else [FLAGS.ruleset]
  trials_per_study = {r: 1 if r == 'self' else (FLAGS.num_trials or rules.num_trials) for r in rulesets}
  FLAGS.data_dir = resolve_user_path(FLAGS.data_dir)
  experiment_dir = resolve_user_path(FLAGS.experiment_dir or os.path.join(
      '~/algoperf_experiments', time.strftime('benchmark-%Y%m%d-%H%M%S')))
  try:
    ensure_datasets(FLAGS.workloads, FLAGS.data_dir)
    specs = []
    for ruleset in rulesets:
      specs += make_plans(experiment_dir, FLAGS.submissions, FLAGS.workloads, frameworks, ruleset, num_studies,
                          trials_per_study[ruleset], FLAGS.seed, rules_version=FLAGS.rules_version,
                          scale=FLAGS.scale, data_dir=FLAGS.data_dir, max_global_steps=FLAGS.max_global_steps,
                          progress_every_sec=FLAGS.progress_sec,
                          flags={'benchmark': True, 'scale': FLAGS.scale, 'rules_version': FLAGS.rules_version})
    total = len(specs)
    trial_counts = ' + '.join(f'{trials_per_study[r]} ({r})' for r in rulesets)
    print(f'{total} trials: {len(FLAGS.submissions)} submission(s) x {len(FLAGS.workloads)} workload(s) x '
          f'{len(frameworks)} framework(s) x {num_studies} studies x {trial_counts} trial(s); scale '
          f'{FLAGS.scale}, rules {FLAGS.rules_version}; logs in {experiment_dir}', flush=True)
    results = run_all(specs, executor)
  except ValueError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  finally:
    if executor is not None:
      executor.close()
  for ruleset in rulesets:
    write_results(experiment_dir, ruleset, rulesets, num_studies, trials_per_study[ruleset])
  print(f'done in {time.time() - started:.0f}s; experiment folder {experiment_dir}')
  if not any(r.status == 'completed' for r in results):
    print(f'error: no trial completed; see trial.log in the trial folders under {experiment_dir}.', file=sys.stderr)
    sys.exit(1)


def write_results(experiment_dir: str, ruleset: str, rulesets: List[str], num_studies: int,
                  num_trials: int) -> None:
  """Scores one ruleset's folder and writes its leaderboard beside the ruleset folders."""
  from scoring import layout  # pylint: disable=import-outside-toplevel
  from scoring import leaderboard  # pylint: disable=import-outside-toplevel
  result = leaderboard.write_leaderboard(
      experiment_dir=layout.ruleset_dir(experiment_dir, ruleset),
      output_dir=layout.leaderboard_dir(experiment_dir, ruleset, rulesets),
      rules_version=FLAGS.rules_version, ruleset=ruleset, num_studies=num_studies, num_trials=num_trials)
  print(f'\n{ruleset.capitalize()} tuning. Time to target (median over studies, seconds of submission time; ratio to the best):')
  section = result.paths['markdown'].read_text().split('## Time to target')[1].split('## ')[0]
  print('\n'.join(line for line in section.splitlines() if line.startswith('|')))
  print('Scores:')
  for rank, name, score in result.ranking:
    print(f'  {rank}. {name}: {score:.4f}')
  for warning in result.warnings:
    print(f'  warning: {warning}')
  print(f'Leaderboard: {result.paths["html"]} (also {", ".join(p.name for p in result.paths.values())})')


if __name__ == '__main__':
  app.run(main)

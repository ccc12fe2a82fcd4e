"""The main job: every submission, both rulesets, on a suite of workloads; then both leaderboards.

  bazel run //tools:benchmark                       # the quick suite: every submission in its published
                                                    # framework, both rulesets (see tools/suites/quick.json)
  bazel run //tools:benchmark -- --suite=lite       # the long run: days on 2 cores (tools/suites/lite.json)
  bazel run //tools:benchmark -- --suite=full       # the published suite, for GPU machines
  bazel run //tools:benchmark -- --workloads=mnist --submissions=nadamw_baseline --framework=both \
      --num_studies=1 --num_trials=2 --experiment_dir=/tmp/bench

A suite (tools/suites/<name>.json, read by tools/suite.py) says the workloads, scale, studies, trials,
rulesets and rules version; --workloads, --scale, --num_studies, --num_trials, --ruleset and --rules_version
override it. --framework=published (the default) runs each submission in the framework it was published in
(its submission_info.json); both, jax and pytorch remain. A submission without a version in a chosen
framework is listed as skipped, with the reason.

The command prints the plan first: one line per trial (state, estimated time) and the estimate per workload
and in total (tools/plan.py says how it is made). Datasets that are missing are built (tools:make_datasets).
Each trial prints one line when it ends, long ones a progress line every --progress_sec.

Resuming. Without --experiment_dir the experiment folder is ~/algoperf_experiments/<suite>-<rules version>-
<framework> (plus -seed<k> for a seed other than 0 and a short hash of any other overriding flags), so
rerunning the same command continues the same run: trials whose status.json says completed, diverged or
failed are skipped (failed ones are retried with --retry_failed) and unfinished ones resume from their last
checkpoint. --fresh moves an existing folder aside (to <folder>-<time>) and starts over. A folder whose trials
ran under other targets, budgets or eval periods than the workloads have now (the lite targets were set again
since) is not continued: the command stops and says so, as their times would not compare with new trials'.

The experiment folder is laid out for upstream's scorer (scoring/layout.py): <experiment_dir>/<ruleset>_tuning/
<submission>/study_<k>/<workload>_<framework>/trial_<i>/ (one framework per submission folder, <name>_jax and
<name>_pytorch, when both run). The leaderboards go to <experiment_dir>/leaderboard/<ruleset>_tuning/ (or
leaderboard/ when one ruleset runs), with leaderboard/index.html linking them. --compare_kernels also runs
each trial of a submission that uses the fused kernels with ALGOPERF_KERNELS=off, in
<experiment_dir>/kernels_off/ (same layout), and adds the on/off time-to-target ratios to index.html.
--plan_only stops after the plan; --score_only runs nothing and scores what the folder holds (the
leaderboards of an interrupted run). Only whole workloads are scored: one with unfinished trials is left out
of both leaderboards, with a line saying so. The exit status is 1 when no trial
completed.
"""
import dataclasses
import hashlib
import os
import sys
import time
from typing import List

from absl import app
from absl import flags

from algoperf import trial_process

flags.DEFINE_string('suite', 'quick', 'Suite: a file tools/suites/<name>.json (quick, lite, full).')
flags.DEFINE_list('workloads', None, 'Workload keys to run (default: the suite\'s).')
flags.DEFINE_list('submissions', None, 'Submission folders under submissions/<ruleset>_tuning/ (default: all).')
flags.DEFINE_enum('framework', 'published', ['published', 'both', 'jax', 'pytorch'],
                  'Frameworks to run: each submission\'s published one, both, or one for all.')
flags.DEFINE_enum('ruleset', None, ['external', 'self', 'both'], 'Tuning ruleset(s) (default: the suite\'s).')
flags.DEFINE_enum('rules_version', None, ['v0.5', 'v0.6'], 'Rules version (default: the suite\'s).')
flags.DEFINE_integer('num_studies', None, 'Studies per workload (default: the suite\'s, else the rules\').')
flags.DEFINE_integer('num_trials', None, 'Trials per external-tuning study (default: the suite\'s, else the rules\').')
flags.DEFINE_enum('scale', None, ['full', 'lite', 'smoke'], 'Workload scale (default: the suite\'s).')
flags.DEFINE_string('experiment_dir', None, 'Output folder (default: ~/algoperf_experiments/<suite>-<rules>-'
                    '<framework>[-seed<k>][-<hash of other overrides>], resumed when it exists).')
flags.DEFINE_boolean('fresh', False, 'Move an existing experiment folder aside and start over.')
flags.DEFINE_boolean('retry_failed', False, 'Run trials whose status.json says failed again.')
flags.DEFINE_boolean('compare_kernels', False, 'Also run kernel-using submissions with ALGOPERF_KERNELS=off.')
flags.DEFINE_boolean('plan_only', False, 'Print the plan and the estimate, then stop.')
flags.DEFINE_boolean('write_reference_walls', False, 'After the run, write its trials\' wall times to '
                     'tools/reference_walls.json (the estimate of a machine without history of its own).')
flags.DEFINE_boolean('score_only', False, 'Run no trial: score what the experiment folder holds (e.g. an '
                     'interrupted run) and write the leaderboards.')
flags.DEFINE_string('data_dir', os.environ.get('ALGOPERF_DATA_DIR', '~/algoperf_data'), 'Dataset folder.')
flags.DEFINE_integer('seed', 0, 'Base seed; every trial derives its own.')
flags.DEFINE_integer('max_global_steps', None, 'Cap on steps per trial (for quick looks).')
flags.DEFINE_float('progress_sec', 30.0, 'Seconds between progress lines within a long trial.')
flags.DEFINE_float('checkpoint_period_sec', 60.0, 'Wall seconds between the checkpoints a trial saves after its '
                   'evals (0: after every eval, as upstream); the end of a trial always saves one, and an '
                   'interrupted trial resumes from its last.')
trial_process.define_flags(flags)
FLAGS = flags.FLAGS

EXPERIMENTS_ROOT = '~/algoperf_experiments'
# Flags that change what runs; any of them given explicitly changes the default folder's name.
OVERRIDES = ('workloads', 'submissions', 'ruleset', 'num_studies', 'num_trials', 'scale', 'max_global_steps')


def default_experiment_dir(suite: str, rules_version: str, framework: str, seed: int, overrides: dict) -> str:
  """~/algoperf_experiments/<suite>-<rules>-<framework>[-seed<k>][-<hash>]: the same command, the same folder."""
  name = f'{suite}-{rules_version}-{framework}' + (f'-seed{seed}' if seed else '')
  given = {k: v for k, v in sorted(overrides.items()) if v not in (None, False)}
  if given:
    name += '-' + hashlib.sha1(repr(given).encode()).hexdigest()[:8]
  return os.path.join(EXPERIMENTS_ROOT, name)


def ensure_datasets(workload_names: List[str], data_dir: str) -> None:
  from tools import datasets  # pylint: disable=import-outside-toplevel
  from workloads import registry  # pylint: disable=import-outside-toplevel
  for dataset in sorted({registry.dataset_of(w) for w in workload_names}):
    start = time.time()
    folder = datasets.build(dataset, data_dir)
    print(f'dataset {dataset}: {folder} ({time.time() - start:.1f}s)', flush=True)


def make_plans(experiment_dir: str, submissions: List[str], workloads: List[str], frameworks: List[str],
               ruleset: str, num_studies: int, num_trials: int, seed: int, rules_version: str = 'v0.6',
               scale: str = 'lite', **common) -> List:
  """The TrialSpecs of one ruleset for explicit submissions, workloads and frameworks (tests, scripts)."""
  from tools import plan as plan_lib  # pylint: disable=import-outside-toplevel
  from tools import suite as suite_lib  # pylint: disable=import-outside-toplevel
  settings = suite_lib.Settings('custom', '', list(workloads), scale, num_studies, {ruleset: num_trials},
                                [ruleset], rules_version)
  framework = 'both' if len(set(frameworks)) > 1 else frameworks[0]
  return [t.spec for t in plan_lib.make_plan(experiment_dir, settings, submissions, framework, seed,
                                             **common).trials]


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


def print_plan(plan, settings, framework: str, experiment_dir: str, past) -> None:
  """The header, one line per trial (its state and estimated seconds), the skipped ones, the estimate."""
  from tools import plan as plan_lib  # pylint: disable=import-outside-toplevel
  to_run = plan.to_run
  print(f'Suite {settings.suite}: {settings.description}')
  counts = ', '.join(f'{r} {settings.trials_per_study[r]} trial(s)/study' for r in settings.rulesets)
  print(f'{len(plan.trials)} trials ({len(to_run)} to run, {len(plan.trials) - len(to_run)} finished, '
        f'{len(plan.skipped)} submission version(s) skipped): '
        f'workloads {", ".join(settings.workloads)}; scale {settings.scale}; rules {settings.rules_version}; '
        f'{settings.num_studies} stud{"y" if settings.num_studies == 1 else "ies"}; {counts}; framework {framework}; folder {experiment_dir}', flush=True)
  reference, reference_source = plan_lib.load_reference()
  est, each = plan_lib.estimate(to_run, settings.scale, settings.rules_version, past, reference)
  seconds = dict(zip((id(t) for t in to_run), each))
  for i, t in enumerate(plan.trials):
    if t.to_run:
      sec = seconds[id(t)]
      note = f'{t.state}, ~{plan_lib.describe(sec)}' if sec is not None else f'{t.state}, time unknown'
    else:
      note = f'{t.state}: skipped'
    print(f'  plan {i + 1}/{len(plan.trials)} {t.spec.label}: {note}')
  for s in plan.skipped:
    print(f'  {s.line()}')
  shares = ', '.join(f'{w} {plan_lib.describe(sec)} ({100 * sec / est.seconds:.0f}%)'
                     for w, sec in est.per_workload.items()) if est.seconds else ''
  print(f'Estimate: {plan_lib.describe(est.seconds)} for {len(to_run)} trials ({shares}); {est.measured} '
        f'from the median wall time of finished trials like them in {os.path.dirname(experiment_dir)}, '
        f'{est.referenced} from the reference measurements ({reference_source}), '
        f'{est.bounded} from their budget bound (time budget + {plan_lib.STARTUP_SEC:.0f} s: a trial that '
        f'never reaches its target), {est.unknown} unknown. Trials that reach their target end sooner.',
        flush=True)


def main(argv):
  del argv
  from algoperf.paths import resolve_user_path  # pylint: disable=import-outside-toplevel
  from algoperf.runner import configure_frameworks  # pylint: disable=import-outside-toplevel
  from tools import plan as plan_lib  # pylint: disable=import-outside-toplevel
  from tools import suite as suite_lib  # pylint: disable=import-outside-toplevel
  started = time.time()
  try:
    settings = suite_lib.settings(
        FLAGS.suite, workloads=FLAGS.workloads, scale=FLAGS.scale, num_studies=FLAGS.num_studies,
        num_trials=FLAGS.num_trials, rules_version=FLAGS.rules_version,
        rulesets=None if FLAGS.ruleset is None else (['external', 'self'] if FLAGS.ruleset == 'both'
                                                      else [FLAGS.ruleset]))
  except ValueError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  FLAGS.data_dir = resolve_user_path(FLAGS.data_dir)
  experiment_dir = resolve_user_path(FLAGS.experiment_dir or default_experiment_dir(
      FLAGS.suite, settings.rules_version, FLAGS.framework, FLAGS.seed, {k: FLAGS[k].value for k in OVERRIDES}))
  if FLAGS.fresh and os.path.exists(experiment_dir):
    aside = f'{experiment_dir}-{time.strftime("%Y%m%d-%H%M%S")}'
    os.rename(experiment_dir, aside)
    print(f'--fresh: moved the previous run to {aside}')
  executor = None
  try:
    plan = plan_lib.make_plan(
        experiment_dir, settings, FLAGS.submissions, FLAGS.framework, FLAGS.seed,
        compare_kernels=FLAGS.compare_kernels, retry_failed=FLAGS.retry_failed, data_dir=FLAGS.data_dir,
        max_global_steps=FLAGS.max_global_steps, progress_every_sec=FLAGS.progress_sec,
        checkpoint_period_sec=FLAGS.checkpoint_period_sec,
        flags={'benchmark': True, 'scale': settings.scale, 'rules_version': settings.rules_version})
    stale = {} if FLAGS.score_only else plan_lib.stale_trials(plan)
    if stale:
      details = '; '.join(f'{w}: {what}' for w, what in stale.items())
      raise ValueError(f'{experiment_dir} holds trials run under other targets or budgets than the workloads '
                       f'have now ({details}), so new trials would not be comparable with them; pass --fresh to '
                       'move that run aside and start over, or --experiment_dir=ANOTHER_FOLDER.')
    print_plan(plan, settings, FLAGS.framework, experiment_dir, plan_lib.history(os.path.dirname(experiment_dir)))
    if FLAGS.plan_only:
      return
    specs = [] if FLAGS.score_only else [t.spec for t in plan.to_run]
    if specs:
      ensure_datasets(settings.workloads, FLAGS.data_dir)
    executor = trial_process.executor_from_flags(FLAGS)
    if executor is None:  # Trials run in this process.
      for framework in sorted({s.framework for s in specs}, reverse=True):
        configure_frameworks(framework)
    results = run_all(specs, executor)
  except ValueError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  finally:
    if executor is not None:
      executor.close()
  write_results(experiment_dir, settings, plan)
  if FLAGS.write_reference_walls:
    from tools import machine_info  # pylint: disable=import-outside-toplevel
    from tools.source_tree import source_tree_path  # pylint: disable=import-outside-toplevel
    path = source_tree_path(plan_lib.REFERENCE_WALLS)
    count = plan_lib.write_reference_walls(experiment_dir, machine_info.machine(), ' '.join(sys.argv[1:]) or
                                           'the default main job', path)
    print(f'--write_reference_walls: {count} trials\' wall times written to {path}')
  print(f'done in {time.time() - started:.0f}s; experiment folder {experiment_dir}')
  finished = [t.state for t in plan.trials if not t.to_run] + [r.status for r in results]
  if 'completed' not in finished:
    print(f'error: no trial completed; see trial.log in the trial folders under {experiment_dir}.', file=sys.stderr)
    sys.exit(1)


def write_results(experiment_dir: str, settings, plan) -> None:
  """Scores each ruleset's folder, writes its leaderboard, and the index page linking them."""
  from algoperf import rules as rules_lib  # pylint: disable=import-outside-toplevel
  from scoring import layout  # pylint: disable=import-outside-toplevel
  from scoring import leaderboard  # pylint: disable=import-outside-toplevel
  from scoring.problems import ScoringError  # pylint: disable=import-outside-toplevel
  from tools import leaderboard_index  # pylint: disable=import-outside-toplevel
  from tools import plan as plan_lib  # pylint: disable=import-outside-toplevel
  sections = []
  options = dict(rules_version=settings.rules_version, num_studies=settings.num_studies)
  rules = rules_lib.get_rules(settings.rules_version)
  for ruleset in settings.rulesets:
    out = layout.leaderboard_dir(experiment_dir, ruleset, settings.rulesets)
    complete, unfinished = plan_lib.finished_workloads(plan, ruleset, FLAGS.retry_failed)
    bases, waiting = plan_lib.scorable_workloads(complete, unfinished, rules.held_out)
    for workload, count in unfinished.items():
      print(f'{ruleset} tuning: {workload} is not scored ({count}; rerun the command to finish it).')
    for workload in waiting:
      print(f'{ruleset} tuning: {workload} is finished but not scored until its held-out variant '
            f'{rules.held_out[workload]} is ({settings.rules_version} scores the two together).')
    try:
      if not bases:
        raise ScoringError('no workload has all its trials finished' + (
            f' with its held-out variant ({", ".join(waiting)} wait for theirs)' if waiting else ''))
      result = leaderboard.write_leaderboard(
          experiment_dir=layout.ruleset_dir(experiment_dir, ruleset), output_dir=out, ruleset=ruleset,
          num_trials=settings.trials_per_study[ruleset], workloads=bases, **options)
    except ScoringError as e:
      print(f'\n{ruleset.capitalize()} tuning: not scored: {e}')
      sections.append(leaderboard_index.Section(ruleset, out, [], error=str(e)))
      continue
    section = leaderboard_index.Section(ruleset, out, result.ranking)
    if any(t.kernels_off and t.ruleset == ruleset for t in plan.trials):
      try:
        off = leaderboard.score(experiment_dir=layout.ruleset_dir(
            os.path.join(experiment_dir, plan_lib.KERNELS_OFF_FOLDER), ruleset), ruleset=ruleset,
            num_trials=settings.trials_per_study[ruleset], workloads=bases, **options)
        section.ratios = leaderboard_index.kernel_ratios(result.scoring.table, off.table)
      except ScoringError as e:
        section.ratios = []
        print(f'warning: the kernels-off runs of {ruleset} tuning were not scored: {e}')
      leaderboard_index.write_ratios_csv(os.path.join(out, leaderboard_index.RATIOS_FILE), section.ratios)
    sections.append(section)
    print_leaderboard(ruleset, result, section.ratios)
  index = leaderboard_index.write_index(
      os.path.join(experiment_dir, layout.LEADERBOARD_FOLDER), sections,
      f'AlgoPerf leaderboards: suite {settings.suite}, rules {settings.rules_version}, scale {settings.scale}',
      [f'Workloads: {", ".join(settings.workloads)}; {settings.num_studies} studies; experiment folder '
       f'{experiment_dir}.'])
  print(f'\nIndex: {index}')


def print_leaderboard(ruleset: str, result, ratios) -> None:
  from tools import leaderboard_index  # pylint: disable=import-outside-toplevel
  print(f'\n{ruleset.capitalize()} tuning. Time to target (median over studies, seconds of submission time; '
        'ratio to the best):')
  section = result.paths['markdown'].read_text().split('## Time to target')[1].split('## ')[0]
  print('\n'.join(line for line in section.splitlines() if line.startswith('|')))
  print('Scores:')
  for rank, name, score in result.ranking:
    print(f'  {rank}. {name}: {score:.4f}')
  for warning in result.warnings:
    print(f'  warning: {warning}')
  if ratios:
    print('Kernels on / off (time-to-target ratio):')
    for sub, workload, on, off in ratios:
      print(f'  {sub} {workload}: {leaderboard_index.ratio_text(on, off)}')
  print(f'Leaderboard: {result.paths["html"]} (also {", ".join(p.name for p in result.paths.values())})')


if __name__ == '__main__':
  app.run(main)

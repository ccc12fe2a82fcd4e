"""Sets a workload's lite targets with the target-setting protocol, scaled down (harness.md §5.2, §3.1 notes).

  bazel run //tools:set_targets -- --workload=mnist --scale=lite [--framework=jax] [--num_trials=20] \
      [--num_seeds=5] [--steps=N] [--eval_period_sec=S]

1. Search: each of the four target-setting algorithms (tools/target_setting: AdamW, NadamW, Nesterov, heavy-ball
   momentum) runs --num_trials Halton points of its search space for a fixed budget of --steps steps, with the
   targets out of reach (every run trains all its steps) and an eval every --eval_period_sec of submission time.
2. Re-runs: the configuration with the best validation value over all algorithms runs again with --num_seeds
   fresh seeds, each in a fresh trial process with JAX's persistent compilation cache off, so that each pays
   its compile as a benchmark trial of a new configuration does (the search already compiled this one, and a
   cache hit would make the budget too small). --retime_reruns runs them again (e.g. on a quieter machine).
3. Targets, budget, eval period and step hint from the re-runs (tools/target_setting/derive.py says which
   relation gives each and why).

Every run goes through the trial entry point (algoperf/trials.py, in a child process by trial_process, so a
crash fails one run), prints one line, and is recorded in the output file (default
workloads/<folder>/lite_targets.json in the source tree) with its result, hyperparameters, eval curve and the
machine's load average, so the file is the provenance. Rerunning the same command skips the runs the file
already holds (a run cut off midway starts again); other protocol settings than the file's are refused.
"""
import datetime
import json
import math
import os
import shutil
import sys
import time
from typing import Any, Dict, List

from absl import app
from absl import flags

from algoperf import trial_process
from tools.machine_info import load_average, machine
from tools.source_tree import source_tree_path

flags.DEFINE_string('workload', None, 'Registry key of the workload (e.g. mnist, ogbg, ogbg_gelu).')
flags.DEFINE_enum('scale', 'lite', ['lite', 'smoke'], 'Scale (smoke: for tests; needs --output).')
flags.DEFINE_enum('framework', 'jax', ['jax', 'pytorch'], 'Framework of the runs (the published budgets were '
                  'set from JAX timings, harness.md §3.1 notes).')
flags.DEFINE_integer('num_trials', 20, 'Halton trials per algorithm (the rules: 200).')
flags.DEFINE_integer('num_seeds', 5, 'Re-runs of the best configuration (the rules: 20).')
flags.DEFINE_integer('steps', None, 'Step budget of every run (default: DEFAULT_STEPS of the base workload).')
flags.DEFINE_float('eval_period_sec', None, 'Seconds of submission time between evals during the protocol '
                   '(default: DEFAULT_EVAL_PERIOD_SEC of the base workload).')
flags.DEFINE_string('output', None, 'Output file (default: workloads/<folder>/lite_targets.json, or '
                    'lite_targets_<key>.json for a held-out variant).')
flags.DEFINE_string('experiment_dir', None, 'Trial folders (default: ~/algoperf_experiments/set_targets/'
                    '<workload>_<scale>_<framework>).')
flags.DEFINE_string('data_dir', os.environ.get('ALGOPERF_DATA_DIR', '~/algoperf_data'), 'Dataset folder.')
flags.DEFINE_integer('seed', 0, 'Base seed of the Halton draws and of every run.')
flags.DEFINE_boolean('retime_reruns', False, 'Run the re-runs of the best configuration again (same seeds) and '
                     'derive again from them, e.g. when the machine is less loaded; the replaced records are kept '
                     'under "replaced_reruns".')
trial_process.define_flags(flags)
FLAGS = flags.FLAGS

ALGORITHMS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'target_setting')
# Step budgets of the protocol per base workload: sized so that a lite trial stays short (issue 17: the quick
# suite's four workloads a few seconds each, every other at most 120 s). MNIST: 5,860 = round(0.75 x 7,813), the
# full workload's target-setting step count (0.75 x its step_hint), since the lite model is the full one on fewer
# digits. A lite MNIST step costs 0.2-0.3 ms, so that still gives only a 1.8 s budget on a quiet machine (fewer
# steps would leave less than the JAX compile of CASPR under load, stop 24's note). OGBG and fastMRI: enough
# steps that the target lies well above what an untrained model scores (OGBG, 1,337 validation graphs: at most
# 0.62 mAP at step 1 over 85 runs, the target 0.76 at 600 steps, which 40 steps could not approach; fastMRI: the
# zero-filled inputs score 0.692 SSIM, which 30 steps did not reach). CIFAR: 400 PyTorch steps take ~19.5 s; at
# 300 an eval (0.35 s on 1,800 images) would cost ~21 % of a trial at a tenth of the time to target (derive.py's
# rule).
DEFAULT_STEPS = {
    'mnist': 5_860, 'criteo1tb': 100, 'ogbg': 600, 'fastmri': 200, 'cifar': 400, 'imagenet_resnet': 300,
    'imagenet_vit': 300, 'librispeech_conformer': 300, 'librispeech_deepspeech': 300, 'wmt': 300,
}
# Seconds between evals during the protocol. MNIST: an eval costs 0.011 s at load ~1.5 and ~0.02 s at load ~3
# (median eval_sec of the 5,860- and 1,500-step re-runs), so 0.1 s keeps evals at 10-17 % of the run (the rules'
# 10-20 %, derive.py) while giving ~20 evals before the target (about 2 s in), so the period stays.
DEFAULT_EVAL_PERIOD_SEC = {'mnist': 0.1, 'criteo1tb': 0.2, 'ogbg': 1.0, 'fastmri': 1.0}
SETTINGS = ('workload', 'scale', 'framework', 'num_trials', 'num_seeds', 'steps', 'eval_period_sec', 'seed')


def default_output(workload: str) -> str:
  """workloads/<folder>/lite_targets*.json in the source tree (bazel run: the workspace, not the runfiles)."""
  from workloads import registry  # pylint: disable=import-outside-toplevel
  from workloads.common import lite_targets  # pylint: disable=import-outside-toplevel
  return source_tree_path(lite_targets.path_for(workload, registry.WORKLOADS[workload].package,
                                               registry.get_base_workload_name(workload)))


def now() -> str:
  return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def write_json(path: str, record: Dict[str, Any]) -> None:
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    json.dump(record, f, indent=1, allow_nan=True)
    f.write('\n')
  os.replace(tmp, path)


def open_record(path: str, settings: Dict[str, Any], command: str) -> Dict[str, Any]:
  """The output file's record (resumed when the settings match), with this invocation added to the provenance."""
  notes = []
  if os.path.exists(path):
    with open(path) as f:
      record = json.load(f)
    notes = [n for n in record.get('provenance', {}).get('notes', []) if not n.startswith('Not yet set')]
  if os.path.exists(path) and record.get('settings') is not None:  # A stub holding only notes starts afresh.
    if record.get('settings') != settings:
      raise ValueError(f'{path} holds a protocol run with other settings ({record.get("settings")}); rerun with '
                       f'those flags to resume it, or delete the file to start over with {settings}.')
  else:
    record = {'workload': settings['workload'], 'scale': settings['scale'], 'settings': settings,
              'targets': None, 'derivation': None,
              'provenance': {'tool': 'tools/set_targets.py (protocol: tools/target_setting/derive.py)',
                             'invocations': [], 'notes': notes},
              'runs': {}}
  record['provenance']['invocations'].append({'command': command, 'started': now(), 'machine': machine(),
                                              'load_average_at_start': load_average()})
  return record


def run_record(result, rows, metric: str, minimized: bool, hyperparameters: Dict[str, Any], seed: int,
               wall_sec: float, load_before: List[float]) -> Dict[str, Any]:
  from tools.target_setting import derive  # pylint: disable=import-outside-toplevel
  record = {'status': result.status, 'reason': result.reason, 'global_step': result.global_step,
            'submission_time': result.submission_time if math.isfinite(result.submission_time) else None,
            'wall_sec': round(wall_sec, 2), 'seed': seed, 'hyperparameters': hyperparameters,
            'finished': now(), 'load_average_before': load_before, 'load_average_after': load_average()}
  record.update(derive.summarize_curve(rows, metric, minimized))
  if record['status'] != 'completed':  # A diverged or failed run has no usable best value.
    record['best_validation'] = record['best_test'] = None
  return record


def main(argv):
  del argv
  from algoperf import trials as trials_lib  # pylint: disable=import-outside-toplevel
  from algoperf import tuning  # pylint: disable=import-outside-toplevel
  from algoperf.paths import resolve_user_path  # pylint: disable=import-outside-toplevel
  from tools.target_setting import derive  # pylint: disable=import-outside-toplevel
  from tools.target_setting import search_spaces  # pylint: disable=import-outside-toplevel
  from workloads import registry  # pylint: disable=import-outside-toplevel
  from workloads.common import lite_targets  # pylint: disable=import-outside-toplevel

  workload = FLAGS.workload
  if workload not in registry.WORKLOADS:
    raise app.UsageError(f'--workload={workload!r} is not registered; choose one of {", ".join(sorted(registry.WORKLOADS))}.')
  base = registry.get_base_workload_name(workload)
  steps = FLAGS.steps or DEFAULT_STEPS.get(base)
  if not steps or steps < 1:
    raise app.UsageError(f'--steps must be a positive step budget (no default for {workload!r}).')
  eval_period = FLAGS.eval_period_sec or DEFAULT_EVAL_PERIOD_SEC.get(base, 1.0)
  if FLAGS.num_trials < 1 or FLAGS.num_seeds < 1:
    raise app.UsageError('--num_trials and --num_seeds must be at least 1 (the protocol: 20 and 5 at lite scale).')
  if FLAGS.scale == 'smoke' and not FLAGS.output:
    raise app.UsageError('--scale=smoke needs --output (smoke targets are not the workload\'s lite targets).')
  output = os.path.abspath(resolve_user_path(FLAGS.output)) if FLAGS.output else default_output(workload)
  experiment_dir = resolve_user_path(FLAGS.experiment_dir or os.path.join(
      '~/algoperf_experiments/set_targets', f'{workload}_{FLAGS.scale}_{FLAGS.framework}'))
  data_dir = resolve_user_path(FLAGS.data_dir)
  settings = {'workload': workload, 'scale': FLAGS.scale, 'framework': FLAGS.framework,
              'num_trials': FLAGS.num_trials, 'num_seeds': FLAGS.num_seeds, 'steps': steps,
              'eval_period_sec': eval_period, 'seed': FLAGS.seed}
  command = ' '.join(['bazel run //tools:set_targets --'] + sys.argv[1:])
  try:
    record = open_record(output, settings, command)
  except ValueError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  probe = registry.workload_class(workload, FLAGS.framework)
  metric, minimized = probe.target_metric_name, probe.target_metric_minimized
  submission = os.path.join(ALGORITHMS_DIR, f'{FLAGS.framework}_submission.py')
  workload_kwargs = lite_targets.target_setting_kwargs(steps, eval_period)
  executor = trial_process.executor_from_flags(FLAGS)
  if executor is None:
    from algoperf.runner import configure_frameworks  # pylint: disable=import-outside-toplevel
    configure_frameworks(FLAGS.framework)
  started = time.time()
  total = len(search_spaces.ALGORITHMS) * FLAGS.num_trials + FLAGS.num_seeds
  print(f'set_targets {workload} ({FLAGS.scale}, {FLAGS.framework}): {len(search_spaces.ALGORITHMS)} algorithms x '
        f'{FLAGS.num_trials} trials + {FLAGS.num_seeds} re-runs at {steps} steps, eval every {eval_period}s; '
        f'{len(record["runs"])} of {total} runs already recorded in {output}', flush=True)

  def run(run_id: str, hyperparameters: Dict[str, Any], seed: int) -> Dict[str, Any]:
    index = len(record['runs']) + 1
    if run_id in record['runs']:
      return record['runs'][run_id]
    trial_dir = os.path.join(experiment_dir, run_id)
    shutil.rmtree(trial_dir, ignore_errors=True)  # A run cut off midway starts again.
    spec = trials_lib.TrialSpec(
        submission_path=submission, workload=workload, framework=FLAGS.framework, ruleset='external',
        rules_version='v0.6', scale=FLAGS.scale, data_dir=data_dir, trial_dir=trial_dir, seed=seed,
        hyperparameters=hyperparameters, max_global_steps=steps, save_checkpoints=False,
        workload_kwargs=workload_kwargs, label=f'[{index}/{total}] {workload} {run_id}', progress_every_sec=60.0,
        flags={'set_targets': True, 'scale': FLAGS.scale})
    load_before, start = load_average(), time.time()
    result = trial_process.run_spec(spec, executor)
    rec = run_record(result, trials_lib.eval_rows(trial_dir), metric, minimized, hyperparameters, seed,
                     time.time() - start, load_before)
    record['runs'][run_id] = rec
    write_json(output, record)
    best = rec['best_validation']
    print(f'{spec.label}: {rec["status"]}, best validation/{metric} '
          f'{"none" if best is None else f"{best:.4f}"}, step {rec["global_step"]}, submission time '
          f'{rec["submission_time"] or float("nan"):.1f}s ({rec["wall_sec"]:.0f}s wall, load {load_before[0]})'
          f'{" - " + rec["reason"] if rec["reason"] else ""}', flush=True)
    return rec

  try:
    search = {}
    for algorithm in search_spaces.ALGORITHMS:
      points = search_spaces.draw(algorithm, FLAGS.num_trials,
                                  tuning.trial_seed(FLAGS.seed, f'target_setting_{algorithm}', workload, 'search', 0))
      for i, point in enumerate(points):
        run_id = f'{algorithm}/trial_{i + 1}'
        search[run_id] = run(run_id, point, tuning.trial_seed(FLAGS.seed, f'target_setting_{algorithm}', workload, 0, i))
    best_id = next(k for k, v in search.items() if v is derive.best_run(list(search.values()), minimized))
    best = search[best_id]
    if FLAGS.retime_reruns:
      replaced = {k: record['runs'].pop(k) for k in sorted(record['runs']) if k.startswith('rerun/')}
      record.setdefault('replaced_reruns', []).append({'replaced': now(), 'runs': replaced})
    if executor is not None:  # The re-runs: fresh processes without the compilation cache (module docstring).
      executor.close()
      os.environ['ALGOPERF_JAX_CACHE_DIR'] = 'off'
      executor = trial_process.executor_from_flags(FLAGS)
    print(f'best configuration: {best_id} (validation/{metric} {best["best_validation"]:.4f}): '
          f'{json.dumps(best["hyperparameters"])}', flush=True)
    reruns = [run(f'rerun/seed_{k + 1}', best['hyperparameters'],
                  tuning.trial_seed(FLAGS.seed, 'target_setting_rerun', workload, 0, k))
              for k in range(FLAGS.num_seeds)]
  finally:
    if executor is not None:
      executor.close()
  bad = [f'rerun/seed_{k + 1}' for k, r in enumerate(reruns) if r['best_validation'] is None]
  if bad:
    print(f'error: re-runs {", ".join(bad)} of the best configuration did not complete; see their trial.log '
          f'under {experiment_dir}.', file=sys.stderr)
    sys.exit(1)
  busy = derive.busy_reruns({f'rerun/seed_{k + 1}': r for k, r in enumerate(reruns)}, os.cpu_count() or 1)
  if busy:
    print(f'warning: {", ".join(busy)} started at a load average above {derive.BUSY_LOAD_FACTOR:g}x the '
          f'{os.cpu_count()} CPUs: other jobs shared the machine, so the budget below is too large; rerun this '
          'command with --retime_reruns on a quiet machine.', file=sys.stderr, flush=True)
  result = derive.derive(reruns, steps, minimized)
  record['best_configuration'] = {'run': best_id, 'hyperparameters': best['hyperparameters']}
  record['targets'] = dict(result['targets'], target_metric=metric, minimized=minimized)
  record['derivation'] = result['derivation']
  record['provenance']['invocations'][-1].update(finished=now(), load_average_at_end=load_average())
  write_json(output, record)
  t = record['targets']
  print(f'{workload} {FLAGS.scale} targets: validation/{metric} {t["validation_target_value"]:.6g}, test/{metric} '
        f'{t["test_target_value"]:.6g}; budget {t["max_allowed_runtime_sec"]} s, eval period '
        f'{t["eval_period_time_sec"]} s, step_hint {t["step_hint"]} ({result["derivation"]["num_reached_validation_target"]}'
        f'/{len(reruns)} re-runs reached; median re-run runtime {result["derivation"]["median_rerun_runtime_sec"]:.1f} s); '
        f'written to {output} in {time.time() - started:.0f}s', flush=True)


if __name__ == '__main__':
  flags.mark_flag_as_required('workload')
  app.run(main)

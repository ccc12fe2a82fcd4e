"""Sets a workload's lite targets with the target-setting protocol, scaled down (harness.md §5.2, §3.1 notes).

  bazel run //tools:set_targets -- --workload=mnist --scale=lite [--framework=slower] [--num_trials=20] \
      [--num_seeds=5] [--steps=N] [--eval_period_sec=S]

0. Framework: the published budgets were set from JAX timings on hardware where JAX and PyTorch run a workload
   at comparable speed (harness.md §3.1 notes); at lite scale on a CPU they do not (MNIST: a PyTorch step costs
   2.3x a JAX one; CIFAR: a JAX step 2.7x a PyTorch one), and a budget set in the faster framework is out of
   the other's reach. So by default (--framework=slower) one probe run in each framework (the first NAdamW
   search point, the protocol's step budget, compile included) picks the framework whose run takes longer, and
   the whole protocol runs in it. The probe is recorded under "framework_probe"; rerunning on a file set in the
   other framework stops and says so, unless the two are within derive.FRAMEWORK_TOLERANCE.
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
import concurrent.futures
import contextlib
import datetime
import json
import math
import os
import queue
import shutil
import sys
import time
from typing import Any, Dict, List, Optional, Tuple

from absl import app
from absl import flags

from algoperf import trial_process
from tools.machine_info import load_average, machine
from tools.source_tree import source_tree_path

flags.DEFINE_string('workload', None, 'Registry key of the workload (e.g. mnist, ogbg, ogbg_gelu).')
flags.DEFINE_enum('scale', 'lite', ['lite', 'smoke'], 'Scale (smoke: for tests; needs --output).')
flags.DEFINE_enum('framework', 'slower', ['slower', 'jax', 'pytorch'], 'Framework of the runs. slower (the '
                  'default): the framework whose probe run (module docstring) takes longer on this machine.')
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
flags.DEFINE_integer('search_workers', 1, 'Search runs side by side, each in its own trial process pinned to one '
                     'CPU, on one thread (the re-runs, which set the budget, always run one at a time on every '
                     'thread). On a 2-core machine 2 gave ~1.6x the search\'s throughput for lite DeepSpeech in '
                     'PyTorch and ~1.3x for lite WMT in JAX (0.33 s a step each vs 0.22 s alone): a run\'s '
                     'result at its fixed step budget does not depend on it, beyond which steps its time-based '
                     'evals fall on.')
trial_process.define_flags(flags)
FLAGS = flags.FLAGS

ALGORITHMS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'target_setting')
# Step budgets of the protocol per base workload: sized so that a lite trial stays short (issue 17: the quick
# suite's four workloads a few seconds each, every other at most 120 s). MNIST: 5,860 = round(0.75 x 7,813), the
# full workload's target-setting step count (0.75 x its step_hint), since the lite model is the full one on fewer
# digits. A lite MNIST step costs 0.2-0.3 ms in JAX and ~0.5 ms in PyTorch, the slower, which sets it: a 4.5 s
# budget (fewer steps would leave less than the JAX compile of CASPR under load, stop 24's note). OGBG and
# fastMRI: enough steps that the target lies well above what an untrained model scores (OGBG, 1,337 validation
# graphs: at most 0.62 mAP at step 1 over 85 runs, the target 0.76 at 600 steps, which 40 steps could not
# approach; fastMRI: the zero-filled inputs score 0.692 SSIM, which 30 steps did not reach, and the 200-step
# protocol's target was 0.792; 150 steps since stop 30, to shorten the main job, with an eval at ~15 % of a
# trial at its period). CIFAR: 400 PyTorch steps take ~19.5 s; at 300 an eval (0.35 s on 1,800 images) would
# cost ~21 % of a trial at a tenth of the time to target (derive.py's rule).
DEFAULT_STEPS = {
    'mnist': 5_860, 'criteo1tb': 100, 'ogbg': 600, 'fastmri': 150, 'cifar': 400, 'imagenet_resnet': 300,
    'imagenet_vit': 300, 'librispeech_conformer': 700, 'librispeech_deepspeech': 800, 'wmt': 400,
}
# Conformer: a CTC model sits on its blank-and-unigram plateau (train loss ~4.5 nats per token, WER 1.0) for
# its first ~400 lite steps whatever the configuration (4 adamw points at 400 steps all ended at WER 1.0;
# NAdamW at lr 0.004 first went below 1.0 at step ~450-500 and reached 0.95 by 600), so 700 steps leave a
# target clearly below the plateau; ~61 s of JAX steps (the slower framework there) at 0.087 s each.
# DeepSpeech (width 64): the same plateau, left later; NAdamW at lr 0.01 first went below WER 1.0 at step ~570
# and reached 0.93 at 800 (lr 0.004: still 1.0 at 800), ~80 s of PyTorch steps at ~0.1 s each.
# WMT: the NAdamW baseline's first point (step_hint 533) went from validation BLEU ~0 to 4.4 (JAX) / 3.2
# (PyTorch) between steps 100 and 320 and gained little after 400 (5.4 / 3.2 at 533); 400 steps cost ~56 s of
# JAX steps on two threads (0.14 s each), ~104 s on one.
# Seconds between evals during the protocol. MNIST: an eval costs 0.011 s at load ~1.5 and ~0.02 s at load ~3
# (median eval_sec of the 5,860- and 1,500-step re-runs), so 0.1 s keeps evals at 10-17 % of the run (the rules'
# 10-20 %, derive.py) while giving ~20 evals before the target (about 2 s in), so the period stays. Conformer:
# an eval (64 + 31 + 35 utterances) costs ~0.8 s in JAX, so 5 s keeps evals near 15 % of a run; DeepSpeech's
# (PyTorch) cost ~1.1 s (median of its re-runs), so the same 5 s. WMT: an eval (3 x 64 short pairs, beam
# search up to 32 tokens) costs ~1.5 s on two threads and ~2 s on one, so 6 s.
DEFAULT_EVAL_PERIOD_SEC = {'mnist': 0.1, 'criteo1tb': 0.2, 'ogbg': 1.0, 'fastmri': 1.0, 'librispeech_conformer': 5.0,
                           'librispeech_deepspeech': 5.0, 'wmt': 6.0}
# The probe of step 0: the first point of this algorithm's search, in each framework.
PROBE_ALGORITHM = 'nadamw'
JAX_CACHE_ENV = 'ALGOPERF_JAX_CACHE_DIR'


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


def read_json(path: str) -> Dict[str, Any]:
  """The file's record, or {} where there is none yet."""
  if not os.path.exists(path):
    return {}
  with open(path) as f:
    return json.load(f)


@contextlib.contextmanager
def without_compilation_cache():
  """JAX's persistent compilation cache off for the trial processes started inside (algoperf/runner.py)."""
  before = os.environ.get(JAX_CACHE_ENV)
  os.environ[JAX_CACHE_ENV] = 'off'
  try:
    yield
  finally:
    if before is None:
      os.environ.pop(JAX_CACHE_ENV)
    else:
      os.environ[JAX_CACHE_ENV] = before


def check_settings(path: str, recorded: Dict[str, Any], settings: Dict[str, Any]) -> None:
  """Raises ValueError when the file's protocol ran with other settings than these."""
  if recorded != settings:
    raise ValueError(f'{path} holds a protocol run with other settings ({recorded}); rerun with those flags to '
                     f'resume it, or delete the file to start over with {settings}.')


def open_record(path: str, settings: Dict[str, Any], command: str) -> Dict[str, Any]:
  """The output file's record (resumed when the settings match), with this invocation added to the provenance."""
  notes = []
  if os.path.exists(path):
    with open(path) as f:
      record = json.load(f)
    notes = [n for n in record.get('provenance', {}).get('notes', []) if not n.startswith('Not yet set')]
  if os.path.exists(path) and record.get('settings') is not None:  # A stub holding only notes starts afresh.
    check_settings(path, record['settings'], settings)
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


def probe_settings(steps: int) -> Dict[str, Any]:
  """What a framework probe depends on: a probe recorded under other settings is run again."""
  return {'scale': FLAGS.scale, 'steps': steps, 'num_trials': FLAGS.num_trials, 'seed': FLAGS.seed,
          'algorithm': PROBE_ALGORITHM}


def framework_mismatch(output: str, set_in: str, probe: Dict[str, Any]) -> Optional[str]:
  """One sentence on a file set in a framework over derive.FRAMEWORK_TOLERANCE times faster than the other (by
  their probe runs), with the fixes; None when the file's framework stands."""
  from tools.target_setting import derive  # pylint: disable=import-outside-toplevel
  if derive.framework_stands(set_in, probe['runs']):
    return None
  listed = ', '.join(f'{fw} {probe["runs"][fw]["submission_time"]:.2f} s' for fw in derive.FRAMEWORKS)
  return (f'{output} holds a protocol run in {set_in}, but {probe["chosen"]} is the slower framework here by more '
          f'than {derive.FRAMEWORK_TOLERANCE:g}x (probe runs: {listed} of submission time), so its budget may be out '
          f'of {probe["chosen"]}\'s reach; move the file aside to set the targets again in {probe["chosen"]}, or '
          f'pass --framework={set_in} to keep it.')


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
  if FLAGS.search_workers < 1:
    raise app.UsageError('--search_workers must be at least 1.')
  if FLAGS.search_workers > 1 and (FLAGS.executor != 'local' or not FLAGS.isolate_trials):
    raise app.UsageError('--search_workers runs trial processes side by side on this machine: it needs '
                         '--executor=local and --isolate_trials.')
  if FLAGS.framework == 'slower' and not FLAGS.isolate_trials:
    raise app.UsageError('--framework=slower runs a probe in each framework, which needs --isolate_trials; or name '
                         'the framework with --framework=jax or --framework=pytorch.')
  output = os.path.abspath(resolve_user_path(FLAGS.output)) if FLAGS.output else default_output(workload)
  experiments_root = resolve_user_path(FLAGS.experiment_dir or '~/algoperf_experiments/set_targets')
  data_dir = resolve_user_path(FLAGS.data_dir)
  command = ' '.join(['bazel run //tools:set_targets --'] + sys.argv[1:])
  workload_class = registry.workload_class(workload, derive.FRAMEWORKS[0])  # Both frameworks score alike.
  metric, minimized = workload_class.target_metric_name, workload_class.target_metric_minimized
  workload_kwargs = lite_targets.target_setting_kwargs(steps, eval_period)
  started = time.time()

  def execute(spec, executor, hyperparameters: Dict[str, Any], seed: int) -> Dict[str, Any]:
    """Runs one trial of the protocol and returns its record (the printed line says how it went)."""
    shutil.rmtree(spec.trial_dir, ignore_errors=True)  # A run cut off midway starts again.
    load_before, start = load_average(), time.time()
    result = trial_process.run_spec(spec, executor)
    rec = run_record(result, trials_lib.eval_rows(spec.trial_dir), metric, minimized, hyperparameters, seed,
                     time.time() - start, load_before)
    best = rec['best_validation']
    print(f'{spec.label}: {rec["status"]}, best validation/{metric} '
          f'{"none" if best is None else f"{best:.4f}"}, step {rec["global_step"]}, submission time '
          f'{rec["submission_time"] or float("nan"):.1f}s ({rec["wall_sec"]:.0f}s wall, load {load_before[0]})'
          f'{" - " + rec["reason"] if rec["reason"] else ""}', flush=True)
    return rec

  def spec_for(framework: str, trial_dir: str, hyperparameters: Dict[str, Any], seed: int, label: str):
    submission = os.path.join(ALGORITHMS_DIR, f'{framework}_submission.py')
    return trials_lib.TrialSpec(
        submission_path=submission, workload=workload, framework=framework, ruleset='external',
        rules_version='v0.6', scale=FLAGS.scale, data_dir=data_dir, trial_dir=trial_dir, seed=seed,
        hyperparameters=hyperparameters, max_global_steps=steps, save_checkpoints=False,
        workload_kwargs=workload_kwargs, label=label, progress_every_sec=60.0,
        flags={'set_targets': True, 'scale': FLAGS.scale})

  def search_point(algorithm: str, i: int):
    points = search_spaces.draw(algorithm, FLAGS.num_trials,
                                tuning.trial_seed(FLAGS.seed, f'target_setting_{algorithm}', workload, 'search', 0))
    return points[i], tuning.trial_seed(FLAGS.seed, f'target_setting_{algorithm}', workload, 0, i)

  settings = {'workload': workload, 'scale': FLAGS.scale, 'framework': FLAGS.framework,
              'num_trials': FLAGS.num_trials, 'num_seeds': FLAGS.num_seeds, 'steps': steps,
              'eval_period_sec': eval_period, 'seed': FLAGS.seed}
  existing = read_json(output)
  if existing.get('settings') and FLAGS.framework == 'slower':  # Other settings fail before any probe runs.
    try:
      check_settings(output, existing['settings'], dict(settings, framework=existing['settings'].get('framework')))
    except ValueError as e:
      print(f'error: {e}', file=sys.stderr)
      sys.exit(2)

  # Step 0: the framework.
  probe = existing.get('framework_probe')
  if probe is not None and probe.get('settings') != probe_settings(steps):
    probe = None  # Recorded under another step budget or search: not this protocol's probe.
  if probe is None and FLAGS.framework == 'slower':
    point, seed = search_point(PROBE_ALGORITHM, 0)
    print(f'set_targets {workload} ({FLAGS.scale}): probe runs of {PROBE_ALGORITHM}/trial_1 at {steps} steps in '
          f'{" and ".join(derive.FRAMEWORKS)}, to run the protocol in the slower', flush=True)
    with without_compilation_cache():  # Each probe pays its compile, as a re-run does.
      executor = trial_process.executor_from_flags(FLAGS)
      try:
        runs = {fw: execute(spec_for(fw, os.path.join(experiments_root, f'{workload}_{FLAGS.scale}_framework_probe',
                                                       fw), point, seed, f'[probe] {workload} {fw}'),
                            executor, point, seed)
                for fw in derive.FRAMEWORKS}
      finally:
        executor.close()
    probe = {'rule': 'the protocol runs in the framework whose probe run took more submission time',
             'settings': probe_settings(steps), 'runs': runs, 'finished': now()}
    try:
      probe['chosen'] = derive.slower_framework(runs)
    except ValueError as e:
      print(f'error: {e}', file=sys.stderr)
      sys.exit(2)
  framework = FLAGS.framework if FLAGS.framework != 'slower' else probe['chosen']
  set_in = (existing.get('settings') or {}).get('framework')
  if FLAGS.framework == 'slower' and set_in:
    mismatch = framework_mismatch(output, set_in, probe)
    if mismatch:
      print(f'error: {mismatch}', file=sys.stderr)
      sys.exit(2)
    framework = set_in  # Within the tolerance: the file's framework stands.
  experiment_dir = (resolve_user_path(FLAGS.experiment_dir) if FLAGS.experiment_dir else
                    os.path.join(experiments_root, f'{workload}_{FLAGS.scale}_{framework}'))
  settings['framework'] = framework
  try:
    record = open_record(output, settings, command)
  except ValueError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  record['provenance']['invocations'][-1]['search_workers'] = FLAGS.search_workers
  if probe is not None:
    record['framework_probe'] = probe
  else:
    record.pop('framework_probe', None)  # One of another step budget or search.
  executor = trial_process.executor_from_flags(FLAGS)
  if executor is None:
    from algoperf.runner import configure_frameworks  # pylint: disable=import-outside-toplevel
    configure_frameworks(framework)
  total = len(search_spaces.ALGORITHMS) * FLAGS.num_trials + FLAGS.num_seeds
  print(f'set_targets {workload} ({FLAGS.scale}, {framework}): {len(search_spaces.ALGORITHMS)} algorithms x '
        f'{FLAGS.num_trials} trials + {FLAGS.num_seeds} re-runs at {steps} steps, eval every {eval_period}s; '
        f'{len(record["runs"])} of {total} runs already recorded in {output}', flush=True)

  def launch(number: int, run_id: str, hyperparameters: Dict[str, Any], seed: int, run_executor) -> Dict[str, Any]:
    """Run number `number` of the protocol, in its folder under the experiment folder; its record."""
    spec = spec_for(framework, os.path.join(experiment_dir, run_id), hyperparameters, seed,
                    f'[{number}/{total}] {workload} {run_id}')
    return execute(spec, run_executor, hyperparameters, seed)

  def run(run_id: str, hyperparameters: Dict[str, Any], seed: int) -> Dict[str, Any]:
    if run_id in record['runs']:
      return record['runs'][run_id]
    record['runs'][run_id] = launch(len(record['runs']) + 1, run_id, hyperparameters, seed, executor)
    write_json(output, record)
    return record['runs'][run_id]

  def run_side_by_side(todo: List[Tuple[str, Dict[str, Any], int]], workers: int) -> None:
    """Runs these (run id, hyperparameters, seed) `workers` at a time, each trial process on one thread, and
    records each run as it ends (this thread alone writes the file)."""
    executors: 'queue.Queue' = queue.Queue()
    for k in range(workers):
      executors.put(trial_process.TrialExecutor(memory_gb=FLAGS.trial_memory_gb, timeout_sec=FLAGS.trial_timeout_sec,
                                                env=trial_process.single_thread_env(), cpus=trial_process.one_cpu(k)))

    def one(number: int, run_id: str, hyperparameters: Dict[str, Any], seed: int):
      side_executor = executors.get()
      try:
        return run_id, launch(number, run_id, hyperparameters, seed, side_executor)
      finally:
        executors.put(side_executor)

    pool = concurrent.futures.ThreadPoolExecutor(workers)
    try:
      futures = [pool.submit(one, len(record['runs']) + k + 1, *item) for k, item in enumerate(todo)]
      for future in concurrent.futures.as_completed(futures):
        run_id, rec = future.result()
        record['runs'][run_id] = dict(rec, side_by_side=workers)
        write_json(output, record)
    finally:
      pool.shutdown(wait=False, cancel_futures=True)
      while not executors.empty():  # Idle workers; a stopped run's worker dies with this process.
        executors.get().close()

  try:
    points = [(f'{algorithm}/trial_{i + 1}', *search_point(algorithm, i))
              for algorithm in search_spaces.ALGORITHMS for i in range(FLAGS.num_trials)]
    if FLAGS.search_workers > 1:
      run_side_by_side([p for p in points if p[0] not in record['runs']], FLAGS.search_workers)
    search = {run_id: run(run_id, hyperparameters, seed) for run_id, hyperparameters, seed in points}
    best_id = next(k for k, v in search.items() if v is derive.best_run(list(search.values()), minimized))
    best = search[best_id]
    if FLAGS.retime_reruns:
      replaced = {k: record['runs'].pop(k) for k in sorted(record['runs']) if k.startswith('rerun/')}
      record.setdefault('replaced_reruns', []).append({'replaced': now(), 'runs': replaced})
    print(f'best configuration: {best_id} (validation/{metric} {best["best_validation"]:.4f}): '
          f'{json.dumps(best["hyperparameters"])}', flush=True)
    with without_compilation_cache():  # The re-runs: fresh processes, each paying its compile (docstring).
      if executor is not None:
        executor.close()
        executor = trial_process.executor_from_flags(FLAGS)
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
  trivial = derive.trivial_target(metric, result['targets']['validation_target_value'], minimized)
  if trivial:  # The runs stay recorded; no targets are written.
    print(f'error: {trivial}; move {output} aside and run the protocol again with more --steps.', file=sys.stderr)
    sys.exit(1)
  record['best_configuration'] = {'run': best_id, 'hyperparameters': best['hyperparameters']}
  record['targets'] = dict(result['targets'], target_metric=metric, minimized=minimized)
  record['derivation'] = result['derivation']
  record['provenance']['invocations'][-1].update(finished=now(), load_average_at_end=load_average())
  write_json(output, record)
  t = record['targets']
  print(f'{workload} {FLAGS.scale} ({framework}) targets: validation/{metric} {t["validation_target_value"]:.6g}, '
        f'test/{metric} {t["test_target_value"]:.6g}; budget {t["max_allowed_runtime_sec"]} s, eval period '
        f'{t["eval_period_time_sec"]} s, step_hint {t["step_hint"]} ({result["derivation"]["num_reached_validation_target"]}'
        f'/{len(reruns)} re-runs reached; median re-run runtime {result["derivation"]["median_rerun_runtime_sec"]:.1f} s); '
        f'written to {output} in {time.time() - started:.0f}s', flush=True)


if __name__ == '__main__':
  flags.mark_flag_as_required('workload')
  app.run(main)

"""Runs one submission on one workload: upstream's command line, flag names and meanings.

  bazel run //algoperf:submission_runner -- --framework=jax --workload=mnist \
      --submission_path=submissions/external_tuning/nadamw_baseline/jax_submission.py \
      --tuning_search_space=submissions/external_tuning/nadamw_baseline/tuning_search_space.json \
      --experiment_dir=/tmp/exp --experiment_name=nadamw --scale=lite

External tuning runs --num_tuning_trials trials (a list search space in order, a dict through Halton);
self-tuning runs one trial without hyperparameters. Logs: <experiment_dir>/<experiment_name>/
<workload>_<framework>/trial_<i>/. Our additions: --scale (full, lite, smoke), --rules_version and --jax_layout
(workloads/common/jax_workload.py). The exit status is 1 when no trial completed (each trial's reason is in its
trial.log), 2 on a usage or set-up error.
Trial i's seed derives from (--rng_seed, the submission's folder name, workload, study, i), where the study is
k for --experiment_name=study_<k> (upstream's study layout) and 0 otherwise: run with
--experiment_dir=<dir>/<submission> --experiment_name=study_<k>, a trial gets the seed tools:benchmark gives it.
"""
import os
import sys
import time

from absl import app
from absl import flags

from algoperf import trial_process

flags.DEFINE_string('submission_path', None, 'Path to the submission file (any folder).')
flags.DEFINE_string('workload', None, 'A registered workload key, e.g. mnist or imagenet_resnet_silu.')
flags.DEFINE_enum('framework', None, ['jax', 'pytorch'], 'The framework of the submission.')
flags.DEFINE_enum('tuning_ruleset', 'external', ['external', 'self'], 'The tuning ruleset.')
flags.DEFINE_string('tuning_search_space', None, 'JSON search space (external tuning only).')
flags.DEFINE_integer('num_tuning_trials', 1, 'Number of tuning trials (external tuning).')
flags.DEFINE_string('data_dir', os.environ.get('ALGOPERF_DATA_DIR', '~/algoperf_data'), 'Dataset folder.')
flags.DEFINE_string('imagenet_v2_data_dir', None, 'ImageNet-v2 folder (the ImageNet test split).')
flags.DEFINE_string('librispeech_tokenizer_vocab_path', None, 'SentencePiece model of LibriSpeech.')
flags.DEFINE_string('experiment_dir', None, 'Root folder of the logs.')
flags.DEFINE_string('experiment_name', None, 'Name of this run (a sub-folder of experiment_dir).')
flags.DEFINE_boolean('torch_compile', False, 'torch.compile the model (upstream defaults to True on GPU).')
flags.DEFINE_boolean('save_checkpoints', True, 'Save a checkpoint after every eval.')
flags.DEFINE_float('checkpoint_period_sec', 0.0, 'With --save_checkpoints: wall seconds between the checkpoints '
                   'saved after evals (0: after every eval, as upstream); the end of a trial always saves one.')
flags.DEFINE_boolean('save_intermediate_checkpoints', True, 'Kept for upstream compatibility.')
flags.DEFINE_boolean('resume_last_run', False, 'Continue the trials in the experiment folder.')
flags.DEFINE_boolean('append_timestamp', False, 'Append a timestamp to the experiment name.')
flags.DEFINE_boolean('use_wandb', False, 'Not supported; kept for upstream compatibility.')
flags.DEFINE_boolean('profile', False, 'Not supported; kept for upstream compatibility.')
flags.DEFINE_integer('max_global_steps', None, 'Stop each trial after this many steps.')
flags.DEFINE_boolean('overwrite', False, 'Replace an existing experiment folder.')
flags.DEFINE_integer('hparam_start_index', None, 'First trial to run (0-based).')
flags.DEFINE_integer('hparam_end_index', None, 'One past the last trial to run.')
flags.DEFINE_integer('rng_seed', None, 'Base seed; each trial derives its own seed from it.')
flags.DEFINE_boolean('set_pytorch_max_split_size', False, 'Kept for upstream compatibility.')
flags.DEFINE_integer('pytorch_eval_num_workers', 0, 'Kept for upstream compatibility.')
flags.DEFINE_boolean('capture_jax_trace', False, 'Not supported; kept for upstream compatibility.')
flags.DEFINE_boolean('skip_evals', False, 'Skip evals (timing runs).')
flags.DEFINE_enum('scale', 'full', ['full', 'lite', 'smoke'], 'Workload scale (see DESIGN.md).')
flags.DEFINE_enum('rules_version', 'v0.6', ['v0.5', 'v0.6'], 'Benchmark rules version.')
trial_process.define_flags(flags)
flags.DEFINE_enum('jax_layout', 'auto', ['auto', 'pmap', 'jit'],
                  'JAX parameter and batch layout: pmap (v0.5 runner) or jit (v0.6); auto gives pmap to files that '
                  'import algorithmic_efficiency under --rules_version=v0.5.')
FLAGS = flags.FLAGS


def main(argv):
  del argv
  for name in ('submission_path', 'workload', 'framework', 'experiment_dir'):
    if getattr(FLAGS, name) is None:
      raise app.UsageError(f'--{name} is required.')
  from algoperf import logger_utils  # pylint: disable=import-outside-toplevel
  from algoperf import runner  # pylint: disable=import-outside-toplevel
  from algoperf import trials  # pylint: disable=import-outside-toplevel
  from algoperf.paths import resolve_user_path  # pylint: disable=import-outside-toplevel
  executor = trial_process.executor_from_flags(FLAGS)
  if executor is None:
    runner.configure_frameworks(FLAGS.framework)  # Trials run here (under torchrun, or --noisolate_trials).
  experiment_name = FLAGS.experiment_name or 'experiment'
  if FLAGS.append_timestamp:
    experiment_name += time.strftime('-%Y-%m-%d-%H-%M-%S')
  rng_seed = FLAGS.rng_seed if FLAGS.rng_seed is not None else int.from_bytes(os.urandom(4), 'little') % 2**31
  try:
    log_dir = logger_utils.get_log_dir(resolve_user_path(FLAGS.experiment_dir), FLAGS.workload, FLAGS.framework, experiment_name,
                                       FLAGS.resume_last_run, FLAGS.overwrite)
    _note_pmap_era_file(resolve_user_path(FLAGS.submission_path))
    results = runner.score_submission_on_workload(
        resolve_user_path(FLAGS.submission_path), FLAGS.workload, FLAGS.framework, FLAGS.tuning_ruleset,
        resolve_user_path(FLAGS.tuning_search_space), FLAGS.num_tuning_trials, resolve_user_path(FLAGS.data_dir), log_dir, rng_seed, FLAGS.scale,
        FLAGS.rules_version, FLAGS.max_global_steps, FLAGS.save_checkpoints, FLAGS.skip_evals,
        FLAGS.imagenet_v2_data_dir, FLAGS.hparam_start_index, FLAGS.hparam_end_index,
        flag_values=FLAGS.flag_values_dict(), study=trials.study_index(experiment_name), executor=executor,
        jax_layout=FLAGS.jax_layout, checkpoint_period_sec=FLAGS.checkpoint_period_sec)
  except (ValueError, FileNotFoundError) as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  finally:
    if executor is not None:
      executor.close()
  completed = [r for r in results if r.status == 'completed']
  if not completed:
    print(f'error: no trial completed ({_outcomes(results)}); see trial.log in each trial folder under {log_dir}.',
          file=sys.stderr)
    sys.exit(1)


def _outcomes(results) -> str:
  if not results:
    return 'no trial ran'
  counts = {}
  for r in results:
    counts[r.status] = counts.get(r.status, 0) + 1
  return ', '.join(f'{n} {status}' for status, n in sorted(counts.items()))


def _note_pmap_era_file(path: str) -> None:
  """A JAX file written for upstream's v0.5 runner expects the pmap layout, which only v0.5 rules give."""
  from algoperf import submission_loader  # pylint: disable=import-outside-toplevel
  if FLAGS.framework != 'jax' or not os.path.isfile(path) or not submission_loader.written_for_v05(path):
    return
  if submission_loader.jax_layout(path, FLAGS.rules_version, FLAGS.jax_layout) == 'jit':
    print(f'note: {path} imports algorithmic_efficiency (upstream v0.5\'s package name), so it was written for '
          'the v0.5 runner, whose JAX workloads were pmapped; if its update uses jax.pmap, run it with '
          '--rules_version=v0.5 (or --jax_layout=pmap).', file=sys.stderr)


if __name__ == '__main__':
  app.run(main)

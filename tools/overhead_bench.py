"""Per-step cost of the runner against a bare training loop: same model, optimizer and batches.

  bazel run //tools:overhead_bench -- --workload=mnist --steps=10000 --repeats=5

The runner loop (algoperf/training_loop.py, evals off) and a bare `for` loop over the same submission's
data_selection + update_params run alternately in one process; the medians of their per-step times give
the overhead ratio. Goal: at most 2 % on MNIST.
"""
import os
import statistics
import sys
import tempfile
import time

from absl import app
from absl import flags

flags.DEFINE_string('workload', 'mnist', 'Workload key.')
flags.DEFINE_enum('scale', 'lite', ['full', 'lite', 'smoke'], 'Workload scale.')
flags.DEFINE_list('frameworks', ['jax', 'pytorch'], 'Frameworks to measure.')
flags.DEFINE_integer('steps', 10_000, 'Steps per measurement (many: both loops pay one compile per trial).')
flags.DEFINE_integer('repeats', 5, 'Alternating measurements per loop (the median is kept).')
flags.DEFINE_string('data_dir', os.environ.get('ALGOPERF_DATA_DIR', '~/algoperf_data'), 'Dataset folder.')
FLAGS = flags.FLAGS

BASELINE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'submissions',
                        'external_tuning', 'nadamw_baseline')
HPARAMS = {'dropout_rate': 0.0, 'label_smoothing': 0.1, 'learning_rate': 0.001308209823469072,
           'one_minus_beta1': 0.02686663061, 'beta2': 0.9981232922116359, 'weight_decay': 0.16375311233774334,
           'warmup_factor': 0.1}


def runner_step_time(framework, submission, steps, data_dir) -> float:
  from algoperf import rules as rules_lib  # pylint: disable=import-outside-toplevel
  from algoperf import training_loop  # pylint: disable=import-outside-toplevel
  from algoperf import tuning  # pylint: disable=import-outside-toplevel
  from workloads import registry  # pylint: disable=import-outside-toplevel
  workload = registry.import_workload(FLAGS.workload, framework, scale=FLAGS.scale)
  config = training_loop.TrialConfig(framework=framework, ruleset='external', rules=rules_lib.get_rules('v0.6'),
                                     data_dir=data_dir, max_global_steps=steps, save_checkpoints=False,
                                     skip_evals=True, progress=None)
  batch_size = workload.scaled_batch_size(submission.get_batch_size(FLAGS.workload))
  with tempfile.TemporaryDirectory() as trial_dir:
    seconds, _ = training_loop.train_once(workload, submission, batch_size, workload.eval_batch_size,
                                          tuning.to_hyperparameters(HPARAMS), 0, trial_dir, config)
  return seconds / steps


def bare_step_time(framework, submission, steps, data_dir) -> float:
  from algoperf import logger_utils  # pylint: disable=import-outside-toplevel
  from algoperf import random_utils as prng  # pylint: disable=import-outside-toplevel
  from algoperf import tuning  # pylint: disable=import-outside-toplevel
  from algoperf.clock import Clock  # pylint: disable=import-outside-toplevel
  from workloads import registry  # pylint: disable=import-outside-toplevel
  prng.set_framework(framework)
  workload = registry.import_workload(FLAGS.workload, framework, scale=FLAGS.scale)
  hyperparameters = tuning.to_hyperparameters(HPARAMS)
  rng = prng.PRNGKey(0)
  params, model_state = workload.init_model_fn(rng)
  optimizer_state = submission.init_optimizer_state(workload, params, model_state, hyperparameters, rng)
  batch_size = workload.scaled_batch_size(submission.get_batch_size(FLAGS.workload))
  queue = workload._build_input_queue(rng, 'train', data_dir, batch_size)  # pylint: disable=protected-access
  clock = Clock(framework)
  with tempfile.TemporaryDirectory() as log_dir:
    # The baseline logs its loss every 100 steps (a device sync) when a logger is attached; that is the
    # submission's own cost, so the bare loop pays it too.
    workload.attach_metrics_logger(logger_utils.MetricLogger(log_dir))
    start = clock.now()
    for step in range(steps):
      batch = submission.data_selection(workload, queue, optimizer_state, params, model_state, hyperparameters,
                                        step, rng)
      optimizer_state, params, model_state = submission.update_params(
          workload, params, workload.model_params_types, model_state, hyperparameters, batch,
          workload.loss_type, optimizer_state, [], step, rng)
    return (clock.now((optimizer_state, params, model_state)) - start) / steps


def main(argv):
  del argv
  from algoperf import runner  # pylint: disable=import-outside-toplevel
  from algoperf import submission_loader  # pylint: disable=import-outside-toplevel
  from algoperf.paths import resolve_user_path  # pylint: disable=import-outside-toplevel
  from tools import datasets  # pylint: disable=import-outside-toplevel
  data_dir = resolve_user_path(FLAGS.data_dir)
  datasets.build(FLAGS.workload, data_dir)
  print(f'{"framework":<10} {"runner ms/step":>15} {"bare ms/step":>13} {"overhead":>9}')
  for framework in FLAGS.frameworks:
    runner.configure_frameworks(framework)
    submission = submission_loader.load_submission(os.path.join(BASELINE, f'{framework}_submission.py'))
    runner_step_time(framework, submission, 200, data_dir)  # Warm-up: compile and page in.
    bare_step_time(framework, submission, 200, data_dir)
    runs, bares = [], []
    for _ in range(FLAGS.repeats):
      runs.append(runner_step_time(framework, submission, FLAGS.steps, data_dir))
      bares.append(bare_step_time(framework, submission, FLAGS.steps, data_dir))
    run, bare = statistics.median(runs), statistics.median(bares)
    print(f'{framework:<10} {run * 1e3:>15.4f} {bare * 1e3:>13.4f} {100 * (run / bare - 1):>8.2f}%', flush=True)
  sys.stdout.flush()


if __name__ == '__main__':
  app.run(main)

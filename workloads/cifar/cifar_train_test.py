"""CIFAR at smoke scale: the NAdamW baseline lowers the loss, and the real runner writes its logs."""
import csv
import math
import os

# Smoke shapes: XLA's compile time, not run time, dominates; set before JAX is imported.
os.environ.setdefault('XLA_FLAGS', '--xla_backend_optimization_level=0')

import numpy as np  # pylint: disable=wrong-import-position
import pytest

from algoperf import random_utils as prng
from algoperf import spec
from algoperf import submission_loader
from workloads import registry
from workloads.cifar import smoke_data

try:
  from algoperf.runner import score_submission_on_workload
except ImportError:  # The runner's function lived in submission_runner before.
  from algoperf.submission_runner import score_submission_on_workload

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
BASELINE = os.path.join(ROOT, 'submissions', 'external_tuning', 'nadamw_baseline')
HPARAMS = {'dropout_rate': 0.0, 'label_smoothing': 0.1, 'learning_rate': 0.003, 'one_minus_beta1': 0.1,
           'beta2': 0.999, 'weight_decay': 0.0, 'warmup_factor': 0.05}


def _train_loss(workload, framework, params, model_state, batch):
  logits, _ = workload.model_fn(params, batch, model_state, spec.ForwardPassMode.TRAIN, None, False)
  summed = workload.loss_fn(batch['targets'], logits, batch['weights'])['summed']
  return float(np.asarray(summed.detach() if hasattr(summed, 'detach') else summed)) / len(batch['weights'])


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_nadamw_baseline_lowers_the_training_loss(framework):
  submission = submission_loader.load_submission(os.path.join(BASELINE, f'{framework}_submission.py'))
  workload = registry.import_workload('cifar', framework, scale='smoke')
  prng.set_framework(framework)
  params, model_state = workload.init_model_fn(prng.PRNGKey(0))
  hparams = type('HParams', (), HPARAMS)()
  optimizer_state = submission.init_optimizer_state(workload, params, model_state, hparams, prng.PRNGKey(1))
  queue = workload._build_input_queue(prng.PRNGKey(2), 'train', smoke_data.data_dir(), 4)  # pylint: disable=protected-access
  batch = next(queue)
  before = _train_loss(workload, framework, params, model_state, batch)
  for step in range(8):  # The same batch: the baseline must fit it.
    optimizer_state, params, model_state = submission.update_params(
        workload, params, workload.model_params_types, model_state, hparams, batch, workload.loss_type,
        optimizer_state, [], step, prng.PRNGKey(3 + step))
  after = _train_loss(workload, framework, params, model_state, batch)
  assert math.isfinite(after) and after < 0.8 * before, (before, after)


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_runner_trains_a_few_steps_and_writes_eval_measurements(framework, tmp_path):
  results = score_submission_on_workload(
      os.path.join(BASELINE, f'{framework}_submission.py'), 'cifar', framework, 'external',
      os.path.join(BASELINE, 'tuning_search_space.json'), 1, smoke_data.data_dir(), str(tmp_path), 0, 'smoke',
      'v0.6', max_global_steps=4, save_checkpoints=False)
  assert len(results) == 1 and results[0].global_step == 4
  path = os.path.join(str(tmp_path), 'trial_1', 'eval_measurements.csv')
  with open(path) as f:
    rows = list(csv.DictReader(f))
  assert rows, 'at least the final eval is logged'
  last = rows[-1]
  for key in ('validation/accuracy', 'validation/loss', 'test/accuracy', 'train/loss', 'accumulated_submission_time'):
    assert key in last and np.isfinite(float(last[key])), key
  assert int(last['global_step']) == 4
  assert 0.0 <= float(last['validation/accuracy']) <= 1.0

"""A short smoke-scale training run of the NAdamW baseline through the real runner, in both frameworks:
it writes eval_measurements.csv and the loss goes down."""
import csv
import json
import os

import pytest
import torch

from algoperf import runner

# Tiny tensors gain nothing from a second thread, and spin-waiting threads on a busy machine slow every op.
torch.set_num_threads(1)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
DATA_DIR = os.environ.get('CRITEO1TB_SMOKE_DATA_DIR', os.path.join(os.path.dirname(__file__), 'smoke'))
BASELINE = os.path.join(ROOT, 'submissions', 'external_tuning', 'nadamw_baseline')
# NAdamW hyperparameters for a 30-step run (a short warmup; dropout and label smoothing exercised).
HPARAMS = {'dropout_rate': 0.1, 'label_smoothing': 0.1, 'learning_rate': 0.003, 'one_minus_beta1': 0.1,
           'beta2': 0.99, 'weight_decay': 0.01, 'warmup_factor': 0.05}


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_baseline_trains_and_logs_evals(tmp_path, framework):
  space = tmp_path / 'space.json'
  space.write_text(json.dumps([HPARAMS]))
  results = runner.score_submission_on_workload(
      os.path.join(BASELINE, f'{framework}_submission.py'), 'criteo1tb', framework, 'external', str(space), 1,
      DATA_DIR, str(tmp_path / 'logs'), 0, 'smoke', 'v0.6', max_global_steps=30, save_checkpoints=False)
  assert [r.status for r in results] == ['completed'], results[0].reason
  assert results[0].global_step == 30
  with open(os.path.join(results[0].trial_dir, 'eval_measurements.csv')) as f:
    rows = list(csv.DictReader(f))
  assert rows[0]['global_step'] == '1' and rows[-1]['global_step'] == '30'
  first, last = float(rows[0]['validation/loss']), float(rows[-1]['validation/loss'])
  assert {'train/loss', 'validation/loss', 'test/loss', 'score'} <= set(rows[0])
  # From a random init (BCE around 0.5-1) towards the click rate's entropy (~0.03) in 30 steps.
  assert last < 0.5 * first and last < 0.25, (first, last)

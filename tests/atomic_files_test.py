"""Files a kill or a full disk cannot half-write: checkpoints fall back to the previous one, a full disk
fails the trial with its reason and loses nothing already written, and the trial resumes afterwards."""
import errno
import json
import os
import stat

import pytest

from algoperf import atomic_files
from algoperf import checkpoint_utils
from algoperf import logger_utils
from algoperf import trials

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
DATA_DIR = os.environ.get('MNIST_SMOKE_DATA_DIR', os.path.join(ROOT, 'tools', 'datasets', 'smoke'))
FAULTY = os.path.join(ROOT, 'tests', 'testdata', 'faulty', 'submission.py')


def test_atomic_write_keeps_the_old_file_when_the_block_fails(tmp_path):
  path = str(tmp_path / 'status.json')
  logger_utils.write_json(path, {'status': 'completed'})
  with pytest.raises(RuntimeError):
    with atomic_files.atomic_write(path) as f:
      f.write('{"status": "half')
      raise RuntimeError('killed mid-write')
  assert json.load(open(path)) == {'status': 'completed'} and os.listdir(tmp_path) == ['status.json']


@pytest.mark.parametrize('damage', ['truncate', 'garbage', 'delete'])
def test_an_unreadable_latest_checkpoint_falls_back_to_the_previous(tmp_path, capsys, damage):
  import torch  # pylint: disable=import-outside-toplevel
  model = torch.nn.Linear(3, 2)
  trial_dir = str(tmp_path)
  for step in (5, 10):
    with torch.no_grad():
      model.weight.fill_(float(step))
    checkpoint_utils.save_checkpoint(trial_dir, 'pytorch', model, None, {}, {'step': step}, [], step, 0)
  latest = os.path.join(trial_dir, 'checkpoint.pt')
  if damage == 'truncate':
    with open(latest, 'r+b') as f:
      f.truncate(os.path.getsize(latest) // 2)
  elif damage == 'garbage':
    with open(latest, 'wb') as f:
      f.write(b'not a checkpoint')
  else:
    os.remove(latest)  # A kill between the two renames.
  fresh = torch.nn.Linear(3, 2)
  record = checkpoint_utils.restore_checkpoint(trial_dir, 'pytorch', fresh, None, {})
  assert record['global_step'] == 5 and float(fresh.weight[0, 0]) == 5.0
  if damage != 'delete':
    assert 'cannot be read' in capsys.readouterr().err


def _spec(trial_dir):
  return trials.TrialSpec(submission_path=FAULTY, workload='mnist', framework='pytorch', ruleset='external',
                          rules_version='v0.6', scale='smoke', data_dir=DATA_DIR, trial_dir=trial_dir, seed=4,
                          hyperparameters={'mode': 'sleep', 'sleep_sec': 0.02}, max_global_steps=30)


def test_a_full_disk_fails_the_trial_keeps_its_files_and_the_trial_resumes(tmp_path, monkeypatch):
  trial_dir = str(tmp_path / 'trial_1')
  real_fsync, calls = os.fsync, [0]

  def fsync_until_full(fd):
    if stat.S_ISREG(os.fstat(fd).st_mode):
      calls[0] += 1
      if calls[0] > 6:  # hparams, flags, meta data, the first eval's two CSVs and checkpoint; then full.
        raise OSError(errno.ENOSPC, 'No space left on device')
    real_fsync(fd)
  monkeypatch.setattr(atomic_files.os, 'fsync', fsync_until_full)
  result = trials.run_trial(_spec(trial_dir))
  assert result.status == 'failed' and 'disk is full (ENOSPC)' in result.reason
  rows = logger_utils.CsvLog(os.path.join(trial_dir, 'eval_measurements.csv')).rows
  assert rows and all(r['validation/accuracy'] for r in rows)  # Complete rows only.
  assert not [n for n in os.listdir(trial_dir) if '.tmp' in n or n.endswith('.new')]

  monkeypatch.setattr(atomic_files.os, 'fsync', real_fsync)  # Space freed: the trial resumes and finishes.
  resumed = trials.run_trial(_spec(trial_dir))
  assert resumed.status == 'completed' and resumed.global_step == 30
  assert os.path.exists(os.path.join(trial_dir, 'meta_data_1.json'))

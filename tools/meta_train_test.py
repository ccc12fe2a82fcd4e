"""tools/meta_train: a tiny run writes weights in the published layout with provenance, and resumes."""
import json
import os
import subprocess
import sys

from submissions.common.sinv6 import features
from submissions.common.sinv6 import weights
from tools.testing.child_env import child_env

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
DATA_DIR = os.environ.get('MNIST_SMOKE_DATA_DIR', os.path.join(ROOT, 'tools', 'datasets', 'smoke'))


def _run(out, meta_steps):
  cmd = [sys.executable, os.path.join(ROOT, 'tools', 'meta_train.py'), f'--out={out}', f'--data_dir={DATA_DIR}',
         '--tasks=mnist_mlp', '--horizons=6', '--population=2', '--batch_size=8', '--checkpoint_every=1',
         f'--meta_steps={meta_steps}', '--seed=3']
  env = child_env(JAX_PLATFORMS='cpu')
  proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return proc.stdout


def test_tiny_run_writes_weights_provenance_and_resumes(tmp_path):
  out = str(tmp_path / 'run')
  first = _run(out, 2)
  assert 'meta-step 1/2 task=mnist_mlp T=6' in first and 'meta-step 2/2' in first
  tree = weights.load(os.path.join(out, 'sinv6_weights.msgpack'))
  assert {p: v.shape for p, v in features.flat_weights(tree).items()} == features.WEIGHT_SHAPES
  with open(os.path.join(out, 'provenance.json')) as f:
    provenance = json.load(f)
  assert provenance['meta_steps'] == 2 and provenance['seed'] == 3
  assert list(provenance['tasks']) == ['mnist_mlp']
  assert provenance['command'].startswith('bazel run //tools:meta_train -- ')
  assert set(provenance['eval_final_weights']) == {'mnist_mlp@6'}
  assert os.path.getsize(os.path.join(out, 'meta_loss.png')) > 1000
  # The weights moved away from the seed's starting point (the ES step did something).
  start = features.flat_weights(features.init_weights(3, 20.0))
  assert any(abs(float((v - start[p]).max())) > 1e-4 for p, v in features.flat_weights(tree).items())

  second = _run(out, 3)  # resumes at meta-step 2 and does one more
  assert 'resumed from' in second and 'at meta-step 2' in second
  assert 'meta-step 3/3' in second and 'meta-step 1/3' not in second
  with open(os.path.join(out, 'provenance.json')) as f:
    assert json.load(f)['meta_steps'] == 3

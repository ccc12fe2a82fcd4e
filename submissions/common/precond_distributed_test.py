"""Shampoo and CASPR over two PyTorch DDP processes (torchrun, gloo) and over two JAX host devices make the
same updates as one process, with the block state split between the ranks / devices.

Four worker launches (each runs both algorithms) serve every test: process start-up dominates the cost."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from submissions.common import precond_dist_worker
from tools.testing.child_env import child_env

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
NAMES = [n for n, _, _ in precond_dist_worker.SHAPES]
ALGOS = ['shampoo', 'caspr']
# Socket set-up races of torchrun's --standalone rendezvous are retried (see tests/ddp_test.py).
PORT_RACE_MARKERS = ('Address already in use', 'EADDRINUSE', 'Connection refused', 'DistNetworkError',
                     'RendezvousConnectionError')
TORCHRUN = ('-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2')


def _worker(tmp_dir, tag, framework, launcher=(), env_extra=None):
  out = os.path.join(tmp_dir, f'{tag}.npz')
  env = child_env(OMP_NUM_THREADS='1', **(env_extra or {}))
  command = [sys.executable] + list(launcher) + ['-m', 'submissions.common.precond_dist_worker',
                                                 f'--framework={framework}', f'--out={out}']
  for attempt in range(3):
    result = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    if result.returncode == 0 or not any(m in result.stderr for m in PORT_RACE_MARKERS) or attempt == 2:
      break
  assert result.returncode == 0, f'{tag} exited {result.returncode}:\n{result.stderr[-6000:]}'
  return dict(np.load(out))


def _devices(n):
  return {'XLA_FLAGS': f'--xla_force_host_platform_device_count={n}'}


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  d = str(tmp_path_factory.mktemp('runs'))
  return {'torch1': _worker(d, 'torch1', 'torch'), 'torch2': _worker(d, 'torch2', 'torch', launcher=TORCHRUN),
          'jax1': _worker(d, 'jax1', 'jax', env_extra=_devices(1)),
          'jax2': _worker(d, 'jax2', 'jax', env_extra=_devices(2))}


@pytest.mark.parametrize('algo', ALGOS)
def test_two_ddp_ranks_update_like_one_process(runs, algo):
  one, two = runs['torch1'], runs['torch2']
  for name in NAMES:
    # Each block's math runs on one rank only and the gather is a sum with zeros: identical bits.
    np.testing.assert_array_equal(two[f'{algo}/{name}'], one[f'{algo}/{name}'], err_msg=name)
  assert np.abs(one[f'{algo}/a'] - precond_dist_worker.problem(1)[0]['a']).max() > 1e-3  # the run moved
  single, = [int(x) for x in one[f'{algo}/state']]
  per_rank = [int(x) for x in two[f'{algo}/state']]
  assert len(per_rank) == 2 and max(per_rank) < single  # block state is split, not replicated


@pytest.mark.parametrize('algo', ALGOS)
def test_two_jax_devices_update_like_one(runs, algo):
  one, two = runs['jax1'], runs['jax2']
  assert str(two[f'{algo}/state'][1]) == '2'
  for group, shards in json.loads(str(two[f'{algo}/state'][0])).items():
    full, = json.loads(str(one[f'{algo}/state'][0]))[group]
    # Each device holds half of the stack (padded to an even count), not a replica.
    assert len(shards) == 2 and all(s[0] == -(-full[0] // 2) for s in shards), (group, shards, full)
  # Not bitwise: XLA partitions the stacked GEMMs and eigendecompositions, so sums round in another order.
  for name in NAMES:
    want = one[f'{algo}/{name}']
    np.testing.assert_allclose(two[f'{algo}/{name}'], want, rtol=1e-5, atol=1e-5 * np.abs(want).max(), err_msg=name)


@pytest.mark.parametrize('algo', ALGOS)
def test_jax_and_torch_workers_agree(runs, algo):
  """The same problem in both frameworks (a Linear weight transposed in Flax's layout)."""
  for name in NAMES:
    want = runs['torch1'][f'{algo}/{name}']
    np.testing.assert_allclose(runs['jax1'][f'{algo}/{name}'], want, rtol=1e-5, atol=1e-5 * np.abs(want).max(),
                               err_msg=name)

"""Every workload trains alike on two devices and on one: JAX over a mesh of two host devices (parameters
replicated, batches split) and PyTorch DDP over two gloo ranks under torchrun, at smoke scale on the CPU.

Per workload (tests/multi_device_driver.py does the training, one process per device count, all the target's
workloads in each): the training losses of 10 SGD steps agree step by step within 1e-5 relative; the
validation metrics of the initial parameters agree (the cross-device reduction, with an eval batch that leaves
a padded and masked last batch whose second half, the second device's, is padding only); and a batch size that is not a multiple of the two devices stops the trial
with get_batch_sizes' sentence.

What is compared where one device and two legitimately differ:
- dropout: rate 0 (model_fn's dropout_rate), since each device draws its own masks;
- PyTorch ResNets (cifar, imagenet_resnet): under DDP each rank's BatchNorm normalises with its own half of
  the batch (the published behaviour). The one-process reference runs the two halves through the model one
  after the other (same statistics, one loss over both); a test shows the full-batch statistics differ.
  JAX under jit normalises with the global batch on any number of devices, so it needs no such reference;
- SpecAugment (LibriSpeech) is drawn for the global batch in both frameworks, so it stays on;
- OGBG: the reference packs each global batch as two devices do (see the driver's --graph_shards).
The env of the Bazel target names the framework and the workloads (BUILD: multi_device_*_test).
"""
import json
import os
import subprocess
import sys

import pytest

from tools.testing import child_env

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
DRIVER = os.path.join(ROOT, 'tests', 'multi_device_driver.py')
FRAMEWORK = os.environ.get('MULTI_DEVICE_FRAMEWORK', 'jax')
WORKLOADS = os.environ.get('MULTI_DEVICE_WORKLOADS', 'mnist').split(',')
STEPS = 10
PER_REPLICA_BATCH_NORM = [w for w in ('cifar', 'imagenet_resnet') if FRAMEWORK == 'pytorch' and w in WORKLOADS]


def _start(out, devices, *extra, workloads=WORKLOADS):
  env = child_env.child_env(OMP_NUM_THREADS='1')
  command = [DRIVER, f'--framework={FRAMEWORK}', f'--workloads={",".join(workloads)}', f'--steps={STEPS}',
             f'--out={out}', *extra]
  if FRAMEWORK == 'jax':
    env.update(XLA_FLAGS=f'--xla_force_host_platform_device_count={devices}')
    launcher = [sys.executable]
  elif devices > 1:
    launcher = [sys.executable, '-m', 'torch.distributed.run', '--standalone', f'--nproc_per_node={devices}']
  else:
    launcher = [sys.executable]
  return subprocess.Popen(launcher + command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(process, out):
  output, _ = process.communicate()
  assert process.returncode == 0, f'{process.args[-4:]} exited {process.returncode}:\n{output[-6000:]}'
  print(f'{out}:', *[line for line in output.splitlines() if 'CPU s:' in line], sep='\n  ')  # Shown with -s.
  with open(out) as f:
    return json.load(f)


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  """{'two': ..., 'one': ..., 'one_full_batch_norm': ...}: the driver's output of each run."""
  folder = tmp_path_factory.mktemp('multi_device')
  plans = {'two': (2,), 'one': (1, '--bn_groups=2', '--graph_shards=2')}
  processes = {k: _start(str(folder / f'{k}.json'), *plan) for k, plan in plans.items()}
  results = {k: _finish(p, str(folder / f'{k}.json')) for k, p in processes.items()}
  if PER_REPLICA_BATCH_NORM:
    out = str(folder / 'full.json')
    results['one_full_batch_norm'] = _finish(_start(out, 1, workloads=PER_REPLICA_BATCH_NORM), out)
  return results


def _max_rel(a, b):
  return max(abs(x - y) / max(abs(y), 1e-12) for x, y in zip(a, b))


@pytest.mark.parametrize('workload', WORKLOADS)
def test_two_devices_give_one_devices_losses(runs, workload):
  two, one = runs['two'][workload], runs['one'][workload]
  assert two['devices'] == 2 and one['devices'] == 1
  if FRAMEWORK == 'jax':
    assert two['batch_shards'] == 2  # The batch really was split over the mesh.
  else:
    assert two['ddp'] and not one['ddp']
  assert len(two['losses']) == len(one['losses']) == STEPS
  assert len(set(one['losses'])) > 1  # The steps train: the losses move.
  print(f'{FRAMEWORK} {workload}: max relative loss difference {_max_rel(two["losses"], one["losses"]):.2e}')
  assert _max_rel(two['losses'], one['losses']) < 1e-5, (two['losses'], one['losses'])


@pytest.mark.parametrize('workload', WORKLOADS)
def test_eval_reduces_over_devices_like_one(runs, workload):
  two, one = runs['two'][workload], runs['one'][workload]
  # The last eval batch is padded, and the second device's half of it is padding only.
  assert 0 < two['num_validation_examples'] % two['eval_batch_size'] <= two['eval_batch_size'] // 2
  assert set(two['eval']) == set(one['eval']) and one['eval']
  assert two['eval'] == pytest.approx(one['eval'], rel=1e-5, abs=1e-7)


@pytest.mark.parametrize('workload', WORKLOADS)
def test_batch_size_not_divisible_by_the_devices_is_one_sentence(runs, workload):
  two, one = runs['two'][workload], runs['one'][workload]
  odd = two['odd_batch_size']
  assert odd % 2
  assert two['divisibility_error'] == (f'The batch size {odd} from get_batch_size({workload!r}) is not divisible '
                                       'by the 2 devices; return a multiple of 2.')
  assert one['divisibility_error'] is None


@pytest.mark.parametrize('workload', PER_REPLICA_BATCH_NORM)
def test_pytorch_batch_norm_is_per_replica(runs, workload):
  # The one-process run that normalises the whole batch at once is not what DDP computes: this is why the
  # reference of the loss test normalises each half on its own.
  full = runs['one_full_batch_norm'][workload]['losses']
  assert _max_rel(runs['two'][workload]['losses'], full) > 1e-4

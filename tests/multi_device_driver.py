"""One process of tests/multi_device_*_test.py: trains each named workload for a few steps on however many
devices this process sees and writes what the test compares (JSON, written by rank 0 only).

- JAX: the devices are the host devices XLA_FLAGS asks for; the v0.6 jit layout (parameters replicated over
  the mesh, batches split along it), trained by the jitted step the JAX submissions share
  (submissions/common/jax_train.py) with plain SGD.
- PyTorch: under torchrun each rank holds the DDP-wrapped model and its slice of the global batch, trained by
  the step the PyTorch submissions share (submissions/common/pytorch_train.py: the loss is the global batch's
  mean, summed over the ranks) with torch.optim.SGD.

Dropout is 0 (model_fn's dropout_rate): each device would draw its own masks. What stays random is drawn for
the global batch in both frameworks (SpecAugment), so one device and two see the same numbers.

--graph_shards=2 makes a one-device OGBG run cut each global batch into two sub-batches as two devices do:
the greedy packing of graphs into fixed-size sub-batches (one per device, as upstream's per-device jraph
batches) picks which graphs a step sees, so with the natural one-device packing the steps would train on
other graphs. The two sub-batches side by side are one valid batch of disjoint graphs on one device.

--bn_groups=2 makes a one-process PyTorch run normalise each half of the batch with its own statistics (the
two halves through the model one after the other, one loss and one backward over both): what DDP computes,
where each rank's torch BatchNorm sees only its own slice (the published behaviour of the ResNets in PyTorch).

Per workload the output holds the training losses per step, the validation metrics of the initial parameters
evaluated with an eval batch that does not divide the split (so the last batch is padded and masked), and
the sentence get_batch_sizes ends a trial with when the batch size is not a multiple of the device count.
"""
import argparse
import json
import os
import sys
import time
import types

# Global training and eval batch sizes at smoke scale: even (two devices), within each smoke training set, and
# an eval batch whose last batch on the validation split (its size in the comment) holds at most half a batch
# of real examples, so the second device sees padding only (OGBG: graphs, packed in budgets).
BATCH_SIZES = {
    'mnist': (16, 96),  # 500
    'cifar': (4, 10),  # 4
    'criteo1tb': (32, 1_000),  # 1,024
    'fastmri': (4, 6),  # 8 slices
    'imagenet_resnet': (4, 4),  # 10
    'imagenet_vit': (4, 4),  # 10
    'librispeech_conformer': (4, 4),  # 6
    'librispeech_deepspeech': (4, 4),  # 6
    'ogbg': (16, 200),  # 256; each device's sub-batch must hold the largest training graph (205 nodes)
    'wmt': (8, 24),  # 32
}
# Workloads whose PyTorch model has per-replica batch norm (torch.nn.BatchNorm2d under DDP).
PER_REPLICA_BATCH_NORM = ('cifar', 'imagenet_resnet')
LEARNING_RATE = 0.003  # Small enough that 10 steps do not amplify rounding differences (CTC losses start near 20).
SEED = 3

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')


def data_dir(workload: str) -> str:
  """The smoke fixture of each dataset (Bazel runfiles, or bazel-bin beside the sources)."""
  if workload.startswith('imagenet'):
    from workloads.imagenet_common import smoke_fixture  # pylint: disable=import-outside-toplevel
    return smoke_fixture.data_dir()
  relative = {
      'mnist': 'tools/datasets/smoke', 'cifar': 'workloads/cifar/smoke', 'criteo1tb': 'workloads/criteo1tb/smoke',
      'fastmri': 'workloads/fastmri/smoke_data', 'ogbg': 'workloads/ogbg/smoke_data', 'wmt': 'workloads/wmt/smoke',
      'librispeech_conformer': 'workloads/librispeech_common/smoke',
      'librispeech_deepspeech': 'workloads/librispeech_common/smoke'}[workload]
  for base in (ROOT, os.path.join(ROOT, 'bazel-bin')):
    if os.path.isdir(os.path.join(base, relative)):
      return os.path.join(base, relative)
  raise FileNotFoundError(f'The smoke data of {workload} ({relative}) is missing; build it with Bazel.')


def _stub_submission(batch_size: int):
  """Only what get_batch_sizes asks of a submission: a batch size the smoke scale divides back to batch_size."""
  return types.SimpleNamespace(get_batch_size=lambda name: batch_size)


def batch_sizes(workload, name: str, devices: int):
  """(train, eval) batch sizes through trials.get_batch_sizes, and its sentence for an odd batch size."""
  from algoperf import trials  # pylint: disable=import-outside-toplevel
  from algoperf.submission_loader import SubmissionError  # pylint: disable=import-outside-toplevel
  divisor = workload.config.batch_size_divisor
  train, eval_size = BATCH_SIZES[name]
  got, _ = trials.get_batch_sizes(_stub_submission(train * divisor), name, name, workload, devices)
  assert got == train, (got, train)
  try:
    trials.get_batch_sizes(_stub_submission((train + 1) * divisor), name, name, workload, devices)
    error = None
  except SubmissionError as e:
    error = str(e)
  return train, eval_size, {'odd_batch_size': train + 1, 'divisibility_error': error}


def run_jax(names, steps, graph_shards):
  import jax  # pylint: disable=import-outside-toplevel
  from algoperf import random_utils as prng  # pylint: disable=import-outside-toplevel
  from algoperf import trials  # pylint: disable=import-outside-toplevel
  from submissions.common import jax_train  # pylint: disable=import-outside-toplevel
  from workloads import registry  # pylint: disable=import-outside-toplevel

  prng.set_framework('jax')
  devices = trials.num_devices('jax')
  sgd = lambda grads, state, params: (jax.tree.map(lambda p, g: p - LEARNING_RATE * g, params, grads), state)
  out = {}
  for name in names:
    workload = registry.import_workload(name, 'jax', scale='smoke')
    if graph_shards and hasattr(workload, '_num_graph_shards'):
      workload._num_graph_shards = lambda: graph_shards  # pylint: disable=protected-access
    train_size, eval_size, checks = batch_sizes(workload, name, devices)
    model_rng, data_rng, step_rng = prng.split(prng.PRNGKey(SEED), 3)
    params, model_state = workload.init_model_fn(model_rng)
    directory = data_dir(name)
    start = time.process_time()
    metrics = workload._eval_model_on_split(  # pylint: disable=protected-access
        'validation', workload.num_validation_examples, eval_size, params, model_state, step_rng, directory)
    eval_cpu, start = time.process_time() - start, time.process_time()
    queue = workload._build_input_queue(data_rng, 'train', directory, train_size)  # pylint: disable=protected-access
    train_step = jax_train.make_train_step(workload, sgd, 0.0, 0.0, None)
    state, losses = (), []
    for step in range(steps):
      batch = next(queue)
      state, params, model_state, loss, _ = train_step(state, params, model_state, batch,
                                                       prng.fold_in(step_rng, step))
      losses.append(float(loss))
    out[name] = {'devices': devices, 'losses': losses, 'eval': metrics, 'eval_batch_size': eval_size,
                 'num_validation_examples': workload.num_validation_examples, **checks,
                 'batch_shards': len(jax.tree.leaves(batch)[0].sharding.device_set)}
    print(f'{name}: {losses[0]:.6f} -> {losses[-1]:.6f} (CPU s: eval {eval_cpu:.0f}, '
          f'train {time.process_time() - start:.0f})', flush=True)
  return out


def _bn_group_workload(workload, groups: int):
  """The workload with a training model_fn that runs each of `groups` slices of the batch on its own."""
  import torch  # pylint: disable=import-outside-toplevel
  from algoperf import spec  # pylint: disable=import-outside-toplevel

  def model_fn(params, batch, model_state, mode, rng, update_batch_norm, dropout_rate=None):
    if mode != spec.ForwardPassMode.TRAIN:
      return workload.model_fn(params, batch, model_state, mode, rng, update_batch_norm, dropout_rate)
    size = len(batch['inputs']) // groups
    logits = []
    for k in range(groups):
      part = {key: value[k * size:(k + 1) * size] for key, value in batch.items()}
      part_logits, model_state = workload.model_fn(params, part, model_state, mode, rng, update_batch_norm,
                                                   dropout_rate)
      logits.append(part_logits)
    return torch.cat(logits), model_state

  return types.SimpleNamespace(model_fn=model_fn, loss_fn=workload.loss_fn)


def run_pytorch(names, steps, bn_groups, graph_shards):
  import torch  # pylint: disable=import-outside-toplevel
  from algoperf import pytorch_utils  # pylint: disable=import-outside-toplevel
  from algoperf import random_utils as prng  # pylint: disable=import-outside-toplevel
  from algoperf import trials  # pylint: disable=import-outside-toplevel
  from submissions.common import pytorch_train  # pylint: disable=import-outside-toplevel
  from workloads import registry  # pylint: disable=import-outside-toplevel

  torch.set_num_threads(1)
  use_ddp, rank, _, _ = pytorch_utils.pytorch_setup()
  pytorch_utils.pytorch_init(use_ddp, rank)
  prng.set_framework('pytorch')
  devices = trials.num_devices('pytorch')
  out = {}
  for name in names:
    workload = registry.import_workload(name, 'pytorch', scale='smoke')
    if graph_shards and hasattr(workload, '_num_graph_shards'):
      workload._num_graph_shards = lambda: graph_shards  # pylint: disable=protected-access
    train_size, eval_size, checks = batch_sizes(workload, name, devices)
    model_rng, data_rng, step_rng = prng.split(prng.PRNGKey(SEED), 3)
    model, model_state = workload.init_model_fn(model_rng)
    directory = data_dir(name)
    start = time.process_time()
    metrics = workload._eval_model_on_split(  # pylint: disable=protected-access
        'validation', workload.num_validation_examples, eval_size, model, model_state, step_rng, directory)
    eval_cpu, start = time.process_time() - start, time.process_time()
    queue = workload._build_input_queue(data_rng, 'train', directory, train_size)  # pylint: disable=protected-access
    trainer = workload
    if bn_groups > 1 and name in PER_REPLICA_BATCH_NORM:
      trainer = _bn_group_workload(workload, bn_groups)
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    losses = []
    for step in range(steps):
      batch = next(queue)
      loss, _, model_state = pytorch_train.train_step(trainer, model, model_state, batch, optimizer,
                                                       prng.fold_in(step_rng, step), 0.0, 0.0, None)
      optimizer.step()
      losses.append(loss.item())
    out[name] = {'devices': devices, 'losses': losses, 'eval': metrics, 'eval_batch_size': eval_size,
                 'num_validation_examples': workload.num_validation_examples, **checks,
                 'ddp': isinstance(model, torch.nn.parallel.DistributedDataParallel)}
    if rank == 0:
      print(f'{name}: {losses[0]:.6f} -> {losses[-1]:.6f} (CPU s: eval {eval_cpu:.0f}, '
          f'train {time.process_time() - start:.0f})', flush=True)
  return out, rank


def main(argv=None):
  parser = argparse.ArgumentParser()
  parser.add_argument('--framework', choices=('jax', 'pytorch'), required=True)
  parser.add_argument('--workloads', required=True, help='comma-separated')
  parser.add_argument('--steps', type=int, default=10)
  parser.add_argument('--bn_groups', type=int, default=1)
  parser.add_argument('--graph_shards', type=int, default=0)
  parser.add_argument('--out', required=True)
  args = parser.parse_args(argv)
  names = args.workloads.split(',')
  if args.framework == 'jax':
    out, rank = run_jax(names, args.steps, args.graph_shards), 0
  else:
    out, rank = run_pytorch(names, args.steps, args.bn_groups, args.graph_shards)
  if rank == 0:
    with open(args.out + '.tmp', 'w') as f:
      json.dump(out, f)
    os.replace(args.out + '.tmp', args.out)


if __name__ == '__main__':
  sys.exit(main())

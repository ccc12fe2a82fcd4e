"""Step time and optimizer-state memory of Shampoo and CASPR against NAdamW, per lite workload and framework.

  bazel run //submissions:precond_bench -- --out=FILE.json [--workloads=mnist] [--frameworks=jax,pytorch]

Rows {submission, framework, workload, step_ms, nadamw_step_ms, ratio_vs_nadamw, state_mb, nadamw_state_mb}.
step_ms is a whole training step (forward, backward, update) through the submission API, amortised over the
root period P (Shampoo 100, CASPR 20): ((P - 1) * preconditioned step + root step) / P, each the median of
--reps timed steps after a warm-up (compilation is excluded). The optimizer's step counter is moved to the
preconditioned phase and to a root step, so no run of P steps is needed. NAdamW is the baseline submission,
measured in the same process on the same batches. state_mb: bytes of optimizer state (this process).
"""
import argparse
import json
import os
import statistics
import sys
import time


ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
PERIODS = {'shampoo': 100, 'caspr_adaptive': 20}


def _submission(name, framework):
  from algoperf import submission_loader  # pylint: disable=import-outside-toplevel
  folder = os.path.join(ROOT, 'submissions', 'external_tuning', name)
  module = submission_loader.load_submission(
      os.path.join(folder, 'jax_submission.py' if framework == 'jax' else 'pytorch_submission.py'))
  with open(os.path.join(folder, 'tuning_search_space.json')) as f:
    return module, json.load(f)[0]


def _state_bytes(framework, optimizer_state) -> int:
  if framework == 'jax':
    import jax  # pylint: disable=import-outside-toplevel
    leaves = [x for x in jax.tree.leaves(optimizer_state['state']) if hasattr(x, 'nbytes')]
    return int(sum(x.nbytes for x in leaves))
  optimizer = optimizer_state['optimizer']
  if hasattr(optimizer, 'state_bytes'):
    return optimizer.state_bytes()
  import torch  # pylint: disable=import-outside-toplevel
  return int(sum(v.numel() * v.element_size() for s in optimizer.state.values() for v in s.values()
                 if isinstance(v, torch.Tensor)))


def _set_step(framework, optimizer_state, t):
  """Makes the next update step number t (1-based)."""
  if framework == 'jax':
    optimizer_state['t'] = t - 1
  else:
    optimizer_state['optimizer'].step_count = t - 1


def measure(name, framework, workload_name, data_dir, reps):
  from algoperf import random_utils as prng  # pylint: disable=import-outside-toplevel
  from algoperf import trials  # pylint: disable=import-outside-toplevel
  from algoperf import tuning  # pylint: disable=import-outside-toplevel
  from workloads import registry  # pylint: disable=import-outside-toplevel
  prng.set_framework(framework)
  workload = registry.import_workload(workload_name, framework, scale='lite')
  module, point = _submission(name, framework)
  hparams = tuning.to_hyperparameters(point)
  rng = prng.PRNGKey(0)
  params, model_state = workload.init_model_fn(rng)
  optimizer_state = module.init_optimizer_state(workload, params, model_state, hparams, rng)
  # The batch size a trial would use: the submission's, shrunk as the lite scale shrinks every submission's.
  batch_size, _ = trials.get_batch_sizes(module, workload_name, registry.get_base_workload_name(workload_name),
                                         workload, num_devices=1)
  queue = workload._build_input_queue(rng, 'train', data_dir=data_dir, global_batch_size=batch_size)  # pylint: disable=protected-access
  batch = next(queue)

  def step(t):
    nonlocal optimizer_state, params, model_state
    if name in PERIODS:
      _set_step(framework, optimizer_state, t)
    start = time.perf_counter()
    optimizer_state, params, model_state = module.update_params(
        workload, params, None, model_state, hparams, batch, None, optimizer_state, [], t - 1, rng)
    if framework == 'jax':
      import jax  # pylint: disable=import-outside-toplevel
      jax.block_until_ready(params)
    return (time.perf_counter() - start) * 1000

  if name not in PERIODS:
    step(1)
    step(2)
    ms = statistics.median(step(3 + i) for i in range(reps))
    return ms, _state_bytes(framework, optimizer_state)
  period = PERIODS[name]
  start = 101 if name == 'caspr_adaptive' else 100
  root_t = (start // period + 1) * period  # a root step inside the preconditioned phase
  step(root_t)  # compiles (JAX) and fills the roots
  step(root_t + 1)
  regular = statistics.median(step(root_t + 1 + i) for i in range(1, reps + 1))
  root = statistics.median(step(root_t + period * (i + 1)) for i in range(max(reps // 3, 1)))
  return ((period - 1) * regular + root) / period, _state_bytes(framework, optimizer_state)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--out', required=True, help='JSON file for the rows.')
  parser.add_argument('--workloads', default='mnist', help='Comma-separated lite workloads.')
  parser.add_argument('--frameworks', default='jax,pytorch')
  parser.add_argument('--submissions', default='shampoo,caspr_adaptive')
  parser.add_argument('--data_dir', default=os.environ.get('ALGOPERF_DATA_DIR', '~/algoperf_data'))
  parser.add_argument('--reps', type=int, default=6)
  args = parser.parse_args(argv)
  cwd = os.environ.get('BUILD_WORKING_DIRECTORY', os.getcwd())
  out = os.path.join(cwd, os.path.expanduser(args.out))
  data_dir = os.path.join(cwd, os.path.expanduser(args.data_dir))
  rows = []
  for workload_name in args.workloads.split(','):
    for framework in args.frameworks.split(','):
      base_ms, base_bytes = measure('nadamw_baseline', framework, workload_name, data_dir, args.reps)
      for name in args.submissions.split(','):
        ms, nbytes = measure(name, framework, workload_name, data_dir, args.reps)
        row = dict(submission=name, framework=framework, workload=workload_name, step_ms=round(ms, 3),
                   nadamw_step_ms=round(base_ms, 3), ratio_vs_nadamw=round(ms / base_ms, 3),
                   state_mb=round(nbytes / 2**20, 3), nadamw_state_mb=round(base_bytes / 2**20, 3))
        rows.append(row)
        print(json.dumps(row), flush=True)
  with open(out, 'w') as f:
    json.dump(rows, f, indent=1)
  print(f'wrote {len(rows)} rows to {out}')
  return 0


if __name__ == '__main__':
  sys.exit(main())

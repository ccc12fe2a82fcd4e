"""Test worker: a few Shampoo or CASPR steps on fixed tensors, on one or more devices / processes.

Run alone, under torchrun (PyTorch DDP over gloo: each rank owns a share of the blocks), or with
XLA_FLAGS=--xla_force_host_platform_device_count=N (JAX: the factor stacks sharded over N devices). Every
process sees the same gradients (as after DDP's all-reduce). Rank 0 writes the final parameters and each
process's optimizer-state bytes to --out (.npz), so a test can compare against a single-process run.

  python -m submissions.common.precond_dist_worker --framework=torch --algos=shampoo,caspr --out=/tmp/x.npz
"""
import argparse
import json

import numpy as np

# Several blocks per parameter (max dim 4 for Shampoo), a 1-D and a 3-D parameter, a transposed Linear.
SHAPES = [('a', (6, 5), 'other'), ('b', (9,), 'other'), ('c', (4, 3, 2), 'other'), ('d', (5, 8), 'dense')]
# epsilon 1e-3: some blocks' factors are rank-deficient after 3 steps, and with 1e-8 their roots would amplify
# the eigensolver's last-bit differences between runs; the comparison is of the distribution, not of LAPACK.
SHAMPOO = dict(learning_rate=0.02, one_minus_beta1=0.1, one_minus_beta2=0.05, epsilon=1e-3, one_minus_momentum=0.5,
               use_momentum=True, weight_decay=0.01, max_preconditioner_dim=4, precondition_frequency=3,
               start_preconditioning_step=-1, inv_root_override=0, exponent_multiplier=1.0, grafting_type='ADAM',
               grafting_epsilon=1e-8, use_nadam=True, warmup_factor=0.1, step_hint_factor=1.0)
CASPR = dict(learning_rate=0.02, one_minus_beta1=0.1, beta2=0.95, weight_decay=0.01, warmup_factor=0.1,
             precondition_frequency=3, start_preconditioning_step=4)


def problem(steps: int):
  rng = np.random.default_rng(0)
  w0 = {n: rng.standard_normal(s).astype(np.float32) for n, s, _ in SHAPES}
  grads = [{n: rng.standard_normal(s).astype(np.float32) for n, s, _ in SHAPES} for _ in range(steps)]
  return w0, grads


def run_torch(algo: str, steps: int, use_kernels: bool):
  import torch  # pylint: disable=import-outside-toplevel
  import torch.distributed as dist  # pylint: disable=import-outside-toplevel
  from submissions.common import precond_config, torch_caspr, torch_shampoo  # pylint: disable=import-outside-toplevel
  import os  # pylint: disable=import-outside-toplevel
  if int(os.environ.get('WORLD_SIZE', '1')) > 1 and not dist.is_initialized():
    dist.init_process_group('gloo')
  w0, grads = problem(steps)
  params = {n: torch.nn.Parameter(torch.from_numpy(w0[n].copy())) for n, _, _ in SHAPES}
  named = [(n, params[n], 'torch_dense' if k == 'dense' else 'other') for n, _, k in SHAPES]
  if algo == 'shampoo':
    opt = torch_shampoo.Shampoo(named, precond_config.shampoo_config(SHAMPOO), use_kernels=use_kernels)
  else:
    opt = torch_caspr.Caspr(named, precond_config.caspr_config(CASPR), use_kernels=use_kernels)
  for g in grads:
    for n, p in params.items():
      p.grad = torch.from_numpy(g[n].copy())
    opt.step()
  out = {n: p.detach().numpy() for n, p in params.items()}
  state = [opt.state_bytes()]
  rank = 0
  if dist.is_initialized():
    rank = dist.get_rank()
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, opt.state_bytes())
    state = gathered
  return rank, out, state


def run_jax(algo: str, steps: int, use_kernels: bool):
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  from algoperf import jax_sharding_utils  # pylint: disable=import-outside-toplevel
  from submissions.common import jax_caspr, jax_shampoo, precond_config  # pylint: disable=import-outside-toplevel
  w0, grads = problem(steps)
  kinds = {n: 'flax_dense' if k == 'dense' else 'other' for n, _, k in SHAPES}
  # Flax keeps a Dense kernel (in, out): show it the transpose of the torch weight, as the twins do.
  to_flax = lambda n, x: x.T if kinds[n] == 'flax_dense' else x
  params = jax_sharding_utils.replicate({n: jnp.asarray(to_flax(n, w0[n])) for n, _, _ in SHAPES})
  kind_fn = lambda name, ndim: kinds[name]
  if algo == 'shampoo':
    cfg = precond_config.shampoo_config(SHAMPOO)
    opt = jax_shampoo.Shampoo(params, cfg, use_kernels=use_kernels, kind_fn=kind_fn)
    phase = lambda t: dict(precondition_now=t >= cfg.start_preconditioning_step, roots_now=cfg.root_due(t))
  else:
    cfg = precond_config.caspr_config(CASPR)
    opt = jax_caspr.Caspr(params, cfg, kind_fn=kind_fn)
    phase = lambda t: dict(precondition_now=t > cfg.start_preconditioning_step, roots_now=cfg.root_due(t),
                           fresh=cfg.fresh(t))
  state = opt.init(params)
  lr = cfg.learning_rate
  update = jax.jit(opt.update, static_argnames=tuple(phase(1)))
  for t, g in enumerate(grads, start=1):
    g = jax_sharding_utils.replicate({n: jnp.asarray(to_flax(n, g[n])) for n in g})
    params, state = update(g, state, params, lr, **phase(t))
  stacks = state['stacks'] if algo == 'shampoo' else state['left']
  per_device = {str(k): [tuple(s.data.shape) for s in v[next(iter(v))].addressable_shards] for k, v in stacks.items()}
  out = {n: np.asarray(to_flax(n, params[n])) for n, _, _ in SHAPES}
  return 0, out, [json.dumps(per_device), len(jax.devices())]


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--framework', choices=['torch', 'jax'], required=True)
  parser.add_argument('--algos', default='shampoo,caspr', help='Comma-separated: shampoo, caspr.')
  parser.add_argument('--steps', type=int, default=10)
  parser.add_argument('--kernels', choices=['on', 'off'], default='on')
  parser.add_argument('--out', required=True)
  args = parser.parse_args()
  run = run_torch if args.framework == 'torch' else run_jax
  arrays, rank = {}, 0
  for algo in args.algos.split(','):
    rank, out, state = run(algo, args.steps, args.kernels == 'on')
    arrays[f'{algo}/state'] = np.array([str(s) for s in state])
    arrays.update({f'{algo}/{k}': v for k, v in out.items()})
  if rank == 0:
    np.savez(args.out, **arrays)


if __name__ == '__main__':
  main()

"""Meta-trains Sinv6's scheduler weights with antithetic evolution strategies on small tasks.

  bazel run //tools:meta_train -- --out=DIR [--tasks=mnist_mlp,fashion_mlp,fashion_conv] [--seed=0]
      [--meta_steps=N] [--max_minutes=M] [--data_dir=~/algoperf_data]

Each meta-step draws a task and a horizon T, an inner initialisation and T batches (shared by every member:
common random numbers), and 2P weight vectors theta +- sigma eps_i. Each member trains the task for T steps
with the Sinv6 update (submissions/common/sinv6/jax_sinv6.py, num_steps = T) and scores the mean over the T
steps of log(training loss); the estimate sum_i (L+_i - L-_i) eps_i / (2 sigma P) feeds Adam. ES needs no
backpropagation through the unroll, so memory stays flat and a 2-core CPU suffices: the population is one
vmapped, jitted scan per (task, T).

Writes to --out: checkpoint.msgpack (every --checkpoint_every meta-steps and at the end; a rerun with the
same --out resumes from it), sinv6_weights.msgpack (the published tree layout), provenance.json (command,
seed, tasks, meta-steps, final meta-loss, code version) and meta_loss.png (the meta-loss curve).
"""
import json
import os
import shlex
import subprocess
import sys
import time

from absl import app
from absl import flags
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax

from submissions.common.sinv6 import features
from submissions.common.sinv6 import jax_sinv6
from submissions.common.sinv6 import weights as weights_io
from tools import meta_tasks

flags.DEFINE_string('out', None, 'Output folder (created; resumed from if it holds a checkpoint).')
flags.DEFINE_list('tasks', list(meta_tasks.TASK_NAMES), 'Tasks to meta-train on.')
flags.DEFINE_integer('seed', 0, 'Seed of the initial weights, the task draws and the ES noise.')
flags.DEFINE_integer('meta_steps', 400, 'Number of ES updates.')
flags.DEFINE_float('max_minutes', 0.0, 'Stop after this much wall time (0: no limit); the outputs are written.')
flags.DEFINE_list('horizons', ['100', '200', '400'], 'Inner horizons T (steps) to draw from.')
flags.DEFINE_integer('population', 8, 'Antithetic pairs per meta-step.')
flags.DEFINE_integer('batch_size', 32, 'Inner batch size.')
flags.DEFINE_float('sigma', 0.02, 'ES perturbation scale (in the normalised parameter space).')
flags.DEFINE_float('meta_lr', 0.01, 'Adam learning rate of the meta-update (normalised space).')
flags.DEFINE_float('init_lr_mult', 20.0, 'Constant lr_mult the fresh weights start from.')
flags.DEFINE_integer('checkpoint_every', 10, 'Meta-steps between checkpoints.')
flags.DEFINE_string('data_dir', os.environ.get('ALGOPERF_DATA_DIR', '~/algoperf_data'), 'Datasets folder.')
FLAGS = flags.FLAGS

# The output layer moves lr_mult directly (values ~10-100), so it is searched in units 10x larger than the
# rest: ES noise and Adam steps are taken on theta / SCALE.
_STEP_SIZE_SCALE = 10.0
NAN_PENALTY = 5.0  # meta-loss of a diverged member: log(initial loss) + this


def _scales(tree):
  flat = features.flat_weights(tree)
  return features.nest_weights({p: np.float32(_STEP_SIZE_SCALE if p[1:2] == ('step_size',) else 1.0)
                                for p in flat})


def _to_weights(z, scales) -> jax_sinv6.Weights:
  """Normalised tree -> the scheduler's weights (traceable)."""
  tree = jax.tree.map(lambda a, s: a * s, z, scales)
  rnn = tree['rnn_params']
  params = {'params': {name: {'kernel': rnn[key]['w'], 'bias': rnn[key]['b']}
                       for key, name in jax_sinv6._MODULE_NAMES.items()}}  # pylint: disable=protected-access
  return jax_sinv6.Weights(params, tree['lstm_init_state']['hidden'], tree['lstm_init_state']['cell'])


def make_unroll(task: meta_tasks.Task, horizon: int, batch_size: int):
  """(z, key) -> meta-loss of one inner run; jitted, vmapped over z."""
  inputs, labels = jnp.asarray(task.inputs), jnp.asarray(task.labels)
  grad_fn = jax.value_and_grad(task.loss)

  def unroll(z, scales, key):
    weights = _to_weights(z, scales)
    init_key, data_key = jax.random.split(key)
    params = task.init(init_key)
    state = jax_sinv6.init(weights, params, horizon)
    idx = jax.random.randint(data_key, (horizon, batch_size), 0, labels.shape[0])

    def body(carry, batch_idx):
      params, state = carry
      loss, grads = grad_fn(params, inputs[batch_idx], labels[batch_idx])
      params, state, _ = jax_sinv6.update(weights, grads, state, params, loss)
      return (params, state), loss

    _, losses = jax.lax.scan(body, (params, state), idx)
    logs = jnp.log(jnp.maximum(losses, 1e-8))
    bad = ~jnp.all(jnp.isfinite(logs))
    return jnp.where(bad, logs[0] + NAN_PENALTY, jnp.mean(logs))

  return jax.jit(jax.vmap(unroll, in_axes=(0, None, None)))


def _pack_json(obj) -> np.ndarray:
  """JSON as a uint8 array (flax msgpack stores arrays, not arbitrary strings)."""
  return np.frombuffer(json.dumps(obj).encode(), np.uint8)


def _unpack_json(array):
  return json.loads(bytes(np.asarray(array, np.uint8)).decode())


def _git_commit() -> str:
  root = os.environ.get('BUILD_WORKSPACE_DIRECTORY') or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  try:
    commit = subprocess.run(['git', '-C', root, 'rev-parse', 'HEAD'], capture_output=True, text=True,
                            check=True).stdout.strip()
    dirty = subprocess.run(['git', '-C', root, 'status', '--porcelain', '--untracked-files=no'],
                           capture_output=True, text=True, check=True).stdout.strip()
    return commit + ('-dirty' if dirty else '')
  except (OSError, subprocess.CalledProcessError):
    return 'unknown'


def _plot(curve, path):
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  fig, ax = plt.subplots(figsize=(7, 4))
  for task in sorted({row['task'] for row in curve}):
    rows = [r for r in curve if r['task'] == task]
    steps = np.asarray([r['step'] for r in rows])
    loss = np.asarray([r['meta_loss'] for r in rows])
    ax.plot(steps, loss, '.', alpha=0.3)
    k = min(10, len(loss))
    if k:
      smooth = np.convolve(loss, np.ones(k) / k, mode='valid')
      ax.plot(steps[k - 1:], smooth, label=f'{task} ({k}-point mean)')
  ax.set_xlabel('meta-step')
  ax.set_ylabel('meta-loss: mean log training loss')
  ax.set_title('Sinv6 scheduler, antithetic ES')
  ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=80)
  plt.close(fig)


def evaluate(z, scales, unrolls, seed: int, members: int):
  """Meta-loss of z on every (task, horizon) at fixed inner seeds (z tiled to the population's size, so the
  compiled meta-step serves; every member sees the same run)."""
  out = {}
  zs = jax.tree.map(lambda a: jnp.broadcast_to(a[None], (members,) + a.shape), z)
  for (task, horizon), fn in sorted(unrolls.items()):
    out[f'{task}@{horizon}'] = float(fn(zs, scales, jax.random.PRNGKey(10_000 + seed))[0])
  return out


def main(argv):
  del argv
  if not FLAGS.out:
    raise app.UsageError('--out is required: the folder for weights, provenance and checkpoints.')
  out = os.path.abspath(os.path.expanduser(FLAGS.out))
  os.makedirs(out, exist_ok=True)
  horizons = [int(h) for h in FLAGS.horizons]
  if any(h < 3 for h in horizons):
    raise app.UsageError(f'--horizons must be >= 3 steps each, got {FLAGS.horizons}.')
  start = time.time()
  code_version = _git_commit()  # now: the tree may move while a long run goes on
  tasks = meta_tasks.load(FLAGS.tasks, FLAGS.data_dir)
  unrolls = {(name, h): make_unroll(task, h, FLAGS.batch_size) for name, task in tasks.items() for h in horizons}

  init_tree = features.init_weights(FLAGS.seed, FLAGS.init_lr_mult)
  scales = _scales(init_tree)
  z = jax.tree.map(lambda a, s: jnp.asarray(a / s), init_tree, scales)
  meta_opt = optax.adam(FLAGS.meta_lr)
  opt_state = meta_opt.init(z)
  step, curve, initial_eval, earlier_s = 0, [], None, 0.0
  ckpt_path = os.path.join(out, 'checkpoint.msgpack')
  if os.path.exists(ckpt_path):
    with open(ckpt_path, 'rb') as f:
      ckpt = flax.serialization.msgpack_restore(f.read())
    z = jax.tree.map(jnp.asarray, ckpt['z'])
    opt_state = flax.serialization.from_state_dict(opt_state, ckpt['opt_state'])
    step = int(ckpt['step'])
    curve = _unpack_json(ckpt['curve'])
    initial_eval = _unpack_json(ckpt['initial_eval'])
    earlier_s = float(ckpt['wall_s'])
    print(f'resumed from {ckpt_path} at meta-step {step}', flush=True)
  if initial_eval is None:
    initial_eval = evaluate(z, scales, unrolls, FLAGS.seed, 2 * FLAGS.population)
    print(f'initial weights: {json.dumps(initial_eval)}', flush=True)

  def save_checkpoint():
    state = {'z': jax.tree.map(np.asarray, z), 'opt_state': flax.serialization.to_state_dict(opt_state),
             'step': step, 'curve': _pack_json(curve), 'initial_eval': _pack_json(initial_eval),
             'wall_s': earlier_s + time.time() - start}
    tmp = ckpt_path + '.tmp'
    with open(tmp, 'wb') as f:
      f.write(flax.serialization.msgpack_serialize(jax.tree.map(np.asarray, state)))
    os.replace(tmp, ckpt_path)

  leaves, treedef = jax.tree.flatten(z)
  pop = FLAGS.population
  while step < FLAGS.meta_steps:
    if FLAGS.max_minutes and time.time() - start > 60 * FLAGS.max_minutes:
      print(f'stopping at meta-step {step}: --max_minutes={FLAGS.max_minutes} reached', flush=True)
      break
    rng = np.random.default_rng([FLAGS.seed, step])
    task = list(tasks)[rng.integers(len(tasks))]
    horizon = horizons[rng.integers(len(horizons))]
    eps = [rng.standard_normal((pop,) + leaf.shape).astype(np.float32) for leaf in leaves]
    members = [np.concatenate([leaf[None] + FLAGS.sigma * e, leaf[None] - FLAGS.sigma * e])
               for leaf, e in zip(leaves, eps)]
    t0 = time.time()
    losses = np.asarray(unrolls[(task, horizon)](jax.tree.unflatten(treedef, members), scales,
                                                 jax.random.PRNGKey(rng.integers(2**31))))
    plus, minus = losses[:pop], losses[pop:]
    diff = (plus - minus) / (2 * FLAGS.sigma * pop)
    grad = [np.tensordot(diff, e, axes=1) for e in eps]
    updates, opt_state = meta_opt.update(jax.tree.unflatten(treedef, grad), opt_state, z)
    z = optax.apply_updates(z, updates)
    leaves = jax.tree.leaves(z)
    meta_loss = float(np.mean(losses))
    step += 1
    curve.append({'step': step, 'task': task, 'horizon': horizon, 'meta_loss': meta_loss})
    lr_mult_bias = float(z['rnn_params']['step_size']['b'][0]) * _STEP_SIZE_SCALE
    print(f'meta-step {step}/{FLAGS.meta_steps} task={task} T={horizon} meta_loss={meta_loss:.4f} '
          f'spread={float(np.std(losses)):.4f} step_size.b={lr_mult_bias:.2f} ({time.time() - t0:.1f}s, '
          f'{(time.time() - start) / 60:.1f} min total)', flush=True)
    if step % FLAGS.checkpoint_every == 0:
      save_checkpoint()
  save_checkpoint()

  final_eval = evaluate(z, scales, unrolls, FLAGS.seed, 2 * FLAGS.population)
  tree = jax.tree.map(lambda a, s: np.asarray(a * s, np.float32), z, scales)
  weights_io.save(tree, os.path.join(out, 'sinv6_weights.msgpack'))
  _plot(curve, os.path.join(out, 'meta_loss.png'))
  recent = [r['meta_loss'] for r in curve[-20:]]
  provenance = {
      'command': 'bazel run //tools:meta_train -- ' + ' '.join(shlex.quote(a) for a in sys.argv[1:]),
      'seed': FLAGS.seed, 'tasks': meta_tasks.describe(tasks), 'horizons': horizons,
      'meta_steps': step, 'meta_steps_requested': FLAGS.meta_steps, 'population_pairs': pop,
      'sigma': FLAGS.sigma, 'meta_lr': FLAGS.meta_lr, 'batch_size': FLAGS.batch_size,
      'init_lr_mult': FLAGS.init_lr_mult,
      'estimator': 'antithetic ES over full inner runs (common random numbers), Adam meta-optimizer',
      'meta_loss': 'mean over the inner run of log(training loss)',
      'final_meta_loss_last_20_steps': float(np.mean(recent)) if recent else None,
      'eval_initial_weights': initial_eval, 'eval_final_weights': final_eval,
      'excluded_workloads': 'all benchmark workloads except MNIST (Fashion-MNIST is the lite cifar build\'s data; '
                            'cifar is a development workload, not a scored one)',
      'code_version': code_version, 'wall_time_s': round(earlier_s + time.time() - start, 1),
      'jax_version': jax.__version__, 'num_weights': features.NUM_WEIGHTS,
  }
  with open(os.path.join(out, 'provenance.json'), 'w') as f:
    json.dump(provenance, f, indent=2, sort_keys=True)
  print(f'wrote {out}/sinv6_weights.msgpack, provenance.json, meta_loss.png; final eval {json.dumps(final_eval)}',
        flush=True)


if __name__ == '__main__':
  app.run(main)

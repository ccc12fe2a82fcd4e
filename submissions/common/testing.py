"""Helpers for the submissions' tests: load a folder, train it on MNIST smoke in either framework from the
same weights and batches, draw search-space points. Not used by submissions themselves."""
import contextlib
import functools
import glob
import json
import os
from typing import Dict, List, Optional

import numpy as np

from algoperf import submission_loader
from algoperf import tuning

SUBMISSIONS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(SUBMISSIONS)
DATA_DIR = os.environ.get('MNIST_SMOKE_DATA_DIR', os.path.join(ROOT, 'tools', 'datasets', 'smoke'))
FILES = {'jax': 'jax_submission.py', 'pytorch': 'pytorch_submission.py'}


def folders() -> List[str]:
  """Every submission folder, as '<ruleset>_tuning/<name>'."""
  found = []
  for path in sorted(glob.glob(os.path.join(SUBMISSIONS, '*_tuning', '*'))):
    if os.path.isdir(path) and any(os.path.exists(os.path.join(path, f)) for f in FILES.values()):
      found.append(os.path.relpath(path, SUBMISSIONS))
  return found


def load(folder: str, framework: str):
  return submission_loader.load_submission(os.path.join(SUBMISSIONS, folder, FILES[framework]))


def search_space(folder: str):
  with open(os.path.join(SUBMISSIONS, folder, 'tuning_search_space.json')) as f:
    return json.load(f)


def point(folder: str, index: int = 0, **overrides):
  """Point `index` of a feasible-points search space (None for a self-tuning folder), with overrides."""
  if folder.startswith('self_tuning'):
    return None
  space = search_space(folder)
  chosen = dict(space[index] if isinstance(space, list) else tuning.trials_for_run(space, index + 1, 0)[index])
  chosen.update(overrides)
  return tuning.to_hyperparameters(chosen)


@contextlib.contextmanager
def kernels(on: bool):
  """ALGOPERF_KERNELS=on/off inside the block (read when an optimizer is built)."""
  old = os.environ.get('ALGOPERF_KERNELS')
  os.environ['ALGOPERF_KERNELS'] = 'on' if on else 'off'
  try:
    yield
  finally:
    if old is None:
      del os.environ['ALGOPERF_KERNELS']
    else:
      os.environ['ALGOPERF_KERNELS'] = old


def count_kernel_calls(monkeypatch, framework: str) -> List[str]:
  """Records every call into the fused-kernel library from `framework`'s front end; returns a list that grows
  by the op's name ('adam', 'graft', 'amos_sums', ...) per call.

  It wraps the one entry point each front end funnels through, so that no op is missed whatever wrapper a
  submission uses: for PyTorch core.run (every torch_ops function and torch_optim class ends there, once per
  call); for JAX jax_ops.apply (optax_ops and every other JAX caller trace through it), which runs when a
  jitted update is traced, not on every step: clear JAX's caches first where a function may be traced already.
  """
  if framework in ('pytorch', 'torch'):
    from algoperf_kernels import core  # pylint: disable=import-outside-toplevel
    module, name = core, 'run'
  elif framework == 'jax':
    from algoperf_kernels import jax_ops  # pylint: disable=import-outside-toplevel
    module, name = jax_ops, 'apply'
  else:
    raise ValueError(f'framework={framework!r} is not one of jax, pytorch (or torch).')
  calls = []
  real = getattr(module, name)

  def wrapped(op, *args, **kwargs):
    calls.append(op)
    return real(op, *args, **kwargs)
  monkeypatch.setattr(module, name, wrapped)
  return calls


def workload(framework: str, step_hint: Optional[int] = None):
  from workloads import registry  # pylint: disable=import-outside-toplevel
  w = registry.import_workload('mnist', framework, scale='smoke')
  if step_hint is not None:
    # A short horizon so that warmup and decay both happen within a test's few steps.
    w.__class__ = type('ShortHorizon' + type(w).__name__, (type(w),), {'step_hint': step_hint})
  return w


@functools.lru_cache(maxsize=4)
def _batches(n: int, batch_size: int):
  w = workload('jax')
  queue = w._build_numpy_queue(np.array([0, 1], np.uint32), 'train', DATA_DIR, batch_size)  # pylint: disable=protected-access
  return tuple(next(queue) for _ in range(n))


def batches(n: int, batch_size: int = 16) -> List[Dict[str, np.ndarray]]:
  """The first n smoke training batches (the same every call)."""
  return [dict(b) for b in _batches(n, batch_size)]


def initial_weights(framework: str, w):
  """Initialises workload `w`; PyTorch models get the JAX model's weights (seed 0), so both start equal."""
  import jax  # pylint: disable=import-outside-toplevel
  from algoperf import random_utils as prng  # pylint: disable=import-outside-toplevel
  from workloads.mnist import twins  # pylint: disable=import-outside-toplevel
  prng.set_framework('jax')
  params, _ = (w if framework == 'jax' else workload('jax')).init_model_fn(jax.random.PRNGKey(0))
  if framework == 'jax':
    return params
  prng.set_framework('pytorch')
  model, _ = w.init_model_fn(prng.PRNGKey(0))
  twins.copy_jax_params_to_torch(params, model)
  return model


def train(framework: str, submission, hyperparameters, steps: int, step_hint: Optional[int] = None):
  """Trains from the shared initial weights on the smoke batches; returns (losses, weights).

  losses[i] is the mean loss on batch i before update i (a separate eval-mode forward pass); weights are
  numpy arrays in the JAX layout. Raises what the submission raises (e.g. TrainingCompleteError)."""
  import jax  # pylint: disable=import-outside-toplevel
  import torch  # pylint: disable=import-outside-toplevel
  from algoperf import spec  # pylint: disable=import-outside-toplevel
  w = workload(framework, step_hint)
  current = initial_weights(framework, w)
  state = submission.init_optimizer_state(w, current, None, hyperparameters, jax.random.PRNGKey(1))
  losses = []
  for i, batch in enumerate(batches(steps)):
    if framework == 'jax':
      b = {k: jax.numpy.asarray(v) for k, v in batch.items()}
    else:
      b = {k: torch.from_numpy(v) for k, v in batch.items()}
    logits, _ = w.model_fn(current, b, None, spec.ForwardPassMode.EVAL, None, False)
    loss = w.loss_fn(b['targets'], logits, b['weights'])
    losses.append(float(loss['summed'] / loss['n_valid_examples']))
    rng = jax.random.PRNGKey(i) if framework == 'jax' else None
    # Through data_selection, as the runner does: some submissions (LAWA's v0.5 form) hand over the queue.
    selected = submission.data_selection(w, iter([b]), state, current, None, hyperparameters, i, rng)
    state, current, _ = submission.update_params(w, current, None, None, hyperparameters, selected, None, state,
                                                 [], i, rng)
  if framework == 'jax':
    weights = [np.asarray(x) for x in jax.tree.leaves(current)]
  else:
    weights = [p.detach().numpy().copy() for p in current.parameters()]
  return np.array(losses), weights


# ---------------------------------------------------------------------------------------------------------
# The four kinds of tests, as checks a folder's test file calls.

def assert_close(actual, expected, rtol):
  """rtol relative, plus rtol x max|expected| absolute for elements that cancel to near 0."""
  for a, e in zip(actual, expected):
    e = np.asarray(e, np.float64)
    np.testing.assert_allclose(np.asarray(a, np.float64), e, rtol=rtol, atol=rtol * max(np.abs(e).max(), 1e-30))


def check_jax_vs_pytorch(folder: str, index: int = 0, steps: int = 20, step_hint: Optional[int] = None,
                         rtol: float = 1e-4):
  """(b) The same weights and batches give the same losses in both frameworks; training moves them."""
  h = point(folder, index)
  jax_losses, _ = train('jax', load(folder, 'jax'), h, steps, step_hint)
  torch_losses, _ = train('pytorch', load(folder, 'pytorch'), h, steps, step_hint)
  np.testing.assert_allclose(jax_losses, torch_losses, rtol=rtol)
  assert jax_losses[-5:].mean() < jax_losses[0] - 0.1, jax_losses  # a frozen model would also match


def check_kernels_vs_plain(folder: str, framework: str, index: int = 0, steps: int = 20,
                           step_hint: Optional[int] = None, rtol: float = 1e-6):
  """(c) ALGOPERF_KERNELS=on and =off give the same losses (rtol) and weights (10 rtol in norm) over `steps`
  steps. Weights get the looser bound: the forward/backward passes of the two runs differ by rounding once
  the weights do, and training amplifies that (the rule itself is pinned at rtol by the numpy tests)."""
  h = point(folder, index)
  results = {}
  for on in (True, False):
    with kernels(on):
      results[on] = train(framework, load(folder, framework), h, steps, step_hint)
  np.testing.assert_allclose(results[True][0], results[False][0], rtol=rtol)
  # Tensor by tensor in norm: an Adam step divides by sqrt(v) + eps, so an element whose v is ~0 turns a
  # one-ulp difference into ~1e-5 of that element.
  for a, b in zip(results[True][1], results[False][1]):
    assert np.linalg.norm(a - b) <= 10 * rtol * np.linalg.norm(b), (np.linalg.norm(a - b), np.linalg.norm(b))
  assert results[True][0][-1] < results[True][0][0]


def check_search_space(folder: str, bad: Dict[str, object], draws: int = 5):
  """(d) The search space loads, its points (as the runner draws them) start a trial in both frameworks, and
  each `bad` value stops the trial with one sentence naming the hyperparameter and the value."""
  import jax  # pylint: disable=import-outside-toplevel
  import pytest  # pylint: disable=import-outside-toplevel
  space = tuning.load_search_space(os.path.join(SUBMISSIONS, folder, 'tuning_search_space.json'))
  drawn = tuning.trials_for_run(space, draws, seed=0)
  assert len(drawn) == draws
  for framework in FILES:
    submission = load(folder, framework)
    w = workload(framework)
    start = initial_weights(framework, w)
    for chosen in drawn:
      submission.init_optimizer_state(w, start, None, tuning.to_hyperparameters(chosen), jax.random.PRNGKey(0))
    for name, value in bad.items():
      h = tuning.to_hyperparameters(dict(drawn[0], **{name: value}))
      with pytest.raises(ValueError) as error:
        submission.init_optimizer_state(w, start, None, h, jax.random.PRNGKey(0))
      assert f'{name}={value!r}' in str(error.value), str(error.value)


def random_problem(steps: int = 20, shapes=((3, 5), (7,), (2, 3, 4)), seed: int = 0):
  """Small float32 parameters and a gradient per step (gradients of a quadratic would hide sign errors)."""
  rng = np.random.default_rng(seed)
  params = [rng.normal(size=s).astype(np.float32) for s in shapes]
  grads = [[(rng.normal(size=s) * 0.1).astype(np.float32) for s in shapes] for _ in range(steps)]
  return params, grads


def run_jax(optimizer, params, grads):
  """Applies `optimizer` (jax_optimizers' form) to {'p0': ..., ...} with the given gradients."""
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  tree = {f'p{i}': jnp.asarray(p) for i, p in enumerate(params)}
  state = optimizer.init(tree)
  step = jax.jit(optimizer.step)
  for g in grads:
    tree, state = step({f'p{i}': jnp.asarray(x) for i, x in enumerate(g)}, state, tree)
  return [np.asarray(tree[f'p{i}']) for i in range(len(params))]


def run_torch(make_optimizer, params, grads, scheduler_factor=None):
  """Applies the optimizer make_optimizer(tensors) makes, setting .grad from `grads` each step."""
  import torch  # pylint: disable=import-outside-toplevel
  tensors = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in params]
  optimizer = make_optimizer(tensors)
  for g in grads:
    for t, x in zip(tensors, g):
      t.grad = torch.from_numpy(x.copy())
    optimizer.step()
  return [t.detach().numpy() for t in tensors]


def nadamw_reference(params, grads, lr, b1, b2, eps=1e-8, weight_decay=0.0, power=2.0):
  """The numpy reference (kernels' reference.adamw, textbook rounding) over all steps."""
  from algoperf_kernels import reference  # pylint: disable=import-outside-toplevel
  ps = [p.copy() for p in params]
  ms = [np.zeros_like(p) for p in params]
  vs = [np.zeros_like(p) for p in params]
  for t, g in enumerate(grads, start=1):
    for i in range(len(ps)):
      ps[i], ms[i], vs[i] = reference.adamw(ps[i], g[i], ms[i], vs[i], lr=lr, step=t, beta1=b1, beta2=b2, eps=eps,
                                            weight_decay=weight_decay, nesterov=True, power=power, fma=False)
  return ps


def check_nadamw_rule(b1, b2, weight_decay, power=2.0, lr=1e-2, rtol=1e-6):
  """(a) jax_optimizers.nadamw and pytorch_optimizers.nadamw, kernels on and off, against numpy."""
  from submissions.common import jax_optimizers, pytorch_optimizers  # pylint: disable=import-outside-toplevel
  params, grads = random_problem()
  expected = nadamw_reference(params, grads, lr, b1, b2, 1e-8, weight_decay, power)
  for on in (True, False):
    with kernels(on):
      assert_close(run_jax(jax_optimizers.nadamw(lr, b1, b2, 1e-8, weight_decay, power), params, grads), expected,
                   rtol)
      assert_close(run_torch(lambda ts: pytorch_optimizers.nadamw(ts, lr, (b1, b2), 1e-8, weight_decay, power),
                             params, grads), expected, rtol)
  assert max(np.abs(e - p).max() for e, p in zip(expected, params)) > 10 * lr * 0.5  # the parameters moved


def check_nesterov_sgd_rule(momentum, weight_decay, lr=1e-2, rtol=1e-6):
  """(a) jax_optimizers.nesterov_sgd and pytorch_optimizers.nesterov_sgd, kernels on and off, against numpy
  (reference.sgd: optax.trace(nesterov) + decoupled weight decay)."""
  from algoperf_kernels import reference  # pylint: disable=import-outside-toplevel
  from submissions.common import jax_optimizers, pytorch_optimizers  # pylint: disable=import-outside-toplevel
  params, grads = random_problem()
  expected = [p.copy() for p in params]
  bufs = [np.zeros_like(p) for p in params]
  for t, g in enumerate(grads):
    for i in range(len(params)):
      expected[i], bufs[i] = reference.sgd(expected[i], g[i], bufs[i], lr=lr, momentum=momentum, dampening=0.0,
                                           weight_decay=0.0, nesterov=True, first_step=t == 0,
                                           decoupled_weight_decay=weight_decay, fma=False)
  for on in (True, False):
    with kernels(on):
      assert_close(run_jax(jax_optimizers.nesterov_sgd(lr, momentum, weight_decay), params, grads), expected, rtol)
      assert_close(run_torch(lambda ts: pytorch_optimizers.nesterov_sgd(ts, lr, momentum, weight_decay), params,
                             grads), expected, rtol)

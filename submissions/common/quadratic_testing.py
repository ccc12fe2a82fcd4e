"""A quadratic stand-in workload for update-rule tests of submissions (JAX and PyTorch twins).

Parameters a (3x4) and b (5,) flattened into w (17,); the batch holds `inputs` and `targets`, and the loss
0.5 |w + inputs - targets|^2 has the gradient w + inputs - targets, so a numpy reference of a published
formula can follow a submission step by step through update_params and prepare_for_eval.
"""
import numpy as np

SHAPES = {'a': (3, 4), 'b': (5,)}
SIZE = 17


def initial_flat(seed: int = 0) -> np.ndarray:
  return np.random.RandomState(seed).normal(size=SIZE)


def batches(n: int, seed: int = 1):
  rs = np.random.RandomState(seed)
  target = rs.normal(size=SIZE)
  return [{'inputs': 0.3 * rs.normal(size=SIZE), 'targets': target} for _ in range(n)]


def grad(w: np.ndarray, batch) -> np.ndarray:
  return w + batch['inputs'] - batch['targets']


def split(flat: np.ndarray):
  return {'a': flat[:12].reshape(3, 4), 'b': flat[12:]}


class _Base:
  metrics_logger = None
  model_params_types = None

  def __init__(self, step_hint=100, max_allowed_runtime_sec=100.0, eval_period_time_sec=1.0):
    self.step_hint = step_hint
    self.max_allowed_runtime_sec = max_allowed_runtime_sec
    self.eval_period_time_sec = eval_period_time_sec


class QuadraticJax(_Base):

  def init_params(self, flat):
    import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
    return {k: jnp.asarray(v, jnp.float32) for k, v in split(flat).items()}

  @staticmethod
  def flat(params) -> np.ndarray:
    return np.concatenate([np.asarray(params['a'], np.float64).ravel(), np.asarray(params['b'], np.float64)])

  def batch(self, b):
    import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
    return {k: jnp.asarray(v, jnp.float32) for k, v in b.items()}

  def model_fn(self, params, batch, model_state, mode, rng, update_batch_norm, dropout_rate=None):
    import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
    del mode, rng, update_batch_norm, dropout_rate
    return jnp.concatenate([params['a'].ravel(), params['b']]) + batch['inputs'], model_state

  def loss_fn(self, targets, logits, weights=None, label_smoothing=0.0):
    import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
    del weights, label_smoothing
    return {'summed': 0.5 * jnp.sum((logits - targets)**2), 'n_valid_examples': jnp.float32(1.0)}


class QuadraticTorch(_Base):

  def init_params(self, flat):
    import torch  # pylint: disable=import-outside-toplevel

    class Model(torch.nn.Module):

      def __init__(self):
        super().__init__()
        parts = split(flat)
        self.a = torch.nn.Parameter(torch.tensor(parts['a'], dtype=torch.float32))
        self.b = torch.nn.Parameter(torch.tensor(parts['b'], dtype=torch.float32))

    return Model()

  @staticmethod
  def flat(model) -> np.ndarray:
    return np.concatenate([model.a.detach().double().numpy().ravel(), model.b.detach().double().numpy()])

  def batch(self, b):
    import torch  # pylint: disable=import-outside-toplevel
    return {k: torch.tensor(v, dtype=torch.float32) for k, v in b.items()}

  def model_fn(self, model, batch, model_state, mode, rng, update_batch_norm, dropout_rate=None):
    import torch  # pylint: disable=import-outside-toplevel
    del mode, rng, update_batch_norm, dropout_rate
    return torch.cat([model.a.reshape(-1), model.b]) + batch['inputs'], model_state

  def loss_fn(self, targets, logits, weights=None, label_smoothing=0.0):
    import torch  # pylint: disable=import-outside-toplevel
    del weights, label_smoothing
    return {'summed': 0.5 * torch.sum((logits - targets)**2), 'n_valid_examples': torch.tensor(1.0)}


def workload(framework: str, **kwargs):
  return QuadraticJax(**kwargs) if framework == 'jax' else QuadraticTorch(**kwargs)


def drive(submission, framework: str, hyperparameters, rules: str, calls: int, workload_kwargs=None, seed=0,
          prepare=None):
  """Runs `calls` update_params calls as the runner would (data_selection first; under v0.6 with a train_state
  and, unless prepare=False, prepare_for_eval after every call). Returns (evaluated weights per call, training weights per call,
  the final optimizer state)."""
  wl = workload(framework, **(workload_kwargs or {}))
  params = wl.init_params(initial_flat(seed))
  rng = (lambda i: __import__('jax').random.PRNGKey(i)) if framework == 'jax' else (lambda i: None)
  state = submission.init_optimizer_state(wl, params, None, hyperparameters, rng(0))
  queue = iter([wl.batch(b) for b in batches(calls * 8)])
  prepare = rules == 'v0.6' if prepare is None else prepare
  evaluated, training = [], []
  for step in range(calls):
    batch = submission.data_selection(wl, queue, state, params, None, hyperparameters, step, rng(step))
    kwargs = {'train_state': {}} if rules == 'v0.6' else {}
    state, params, _ = submission.update_params(wl, params, None, None, hyperparameters, batch, None, state, [],
                                                step, rng(step), **kwargs)
    training.append(wl.flat(params))
    if prepare:
      state, params, _ = submission.prepare_for_eval(wl, params, None, None, hyperparameters, None, state, [],
                                                     step + 1, rng(step))
    evaluated.append(wl.flat(params))
  return evaluated, training, state


def assert_close(actual, reference, rtol=1e-6):
  """rtol, plus atol = rtol * max|reference| for elements near zero (produced by cancellation), as the
  kernels' own parity tests (kernels/README.md, Numerics)."""
  reference = np.asarray(reference, np.float64)
  np.testing.assert_allclose(np.asarray(actual, np.float64), reference, rtol=rtol,
                             atol=rtol * np.abs(reference).max())

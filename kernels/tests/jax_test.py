"""JAX front end: XLA FFI handlers (CPU), in-place donation, no recompilation, optax parity.

Tolerances: the FFI runs the same CPU kernels as numpy_ops, so it must match the numpy
reference bit for bit (reference.py, fma=True). Against optax, whose XLA-compiled float32
math rounds each op on its own and applies bias corrections in another order, rtol=1e-6 with
atol=1e-6*max|ref| for elements produced by cancellation (see cpu_parity_test.py).
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from algoperf_kernels import jax_ops
from algoperf_kernels import optax_ops
from algoperf_kernels import reference as R

SHAPES = {'w': (300, 70), 'b': (70,), 'k': (3, 3, 5, 7), 's': ()}


def tree(seed, scale=1.0, dtype=jnp.float32):
  rng = np.random.default_rng(seed)
  return {k: jnp.asarray((rng.standard_normal(s) * scale).astype(np.float32), dtype) for k, s in SHAPES.items()}


def close(a, b, rtol=1e-6, scale=None):
  """rtol, plus atol = rtol * scale (default max|b|) for elements produced by cancellation."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  if scale is None:
    scale = np.abs(b).max() if b.size else 0.0
  np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * scale)


def run_ours(opt, params, grads_seq):
  step = opt.jit_step()
  state = opt.init(params)
  params = jax.tree.map(jnp.copy, params)
  for g in grads_seq:
    params, state = step(g, state, params)
  return params, state


def run_optax(tx, params, grads_seq):
  state = tx.init(params)
  for g in grads_seq:
    updates, state = tx.update(g, state, params)
    params = optax.apply_updates(params, updates)
  return params, state


def test_adamw_matches_optax():
  params = tree(0)
  grads = [tree(10 + t) for t in range(5)]
  schedule = optax.linear_schedule(1e-3, 1e-2, 5)
  ours, state = run_ours(optax_ops.adamw(schedule, b1=0.9, b2=0.99, weight_decay=0.1), params, grads)
  ref, ref_state = run_optax(optax.adamw(schedule, b1=0.9, b2=0.99, weight_decay=0.1), params, grads)
  for k in SHAPES:
    close(ours[k], ref[k])
    close(state.mu[k], ref_state[0].mu[k])
    close(state.nu[k], ref_state[0].nu[k])
  assert int(state.count) == 5


def algoperf_nadamw(lr, b1, b2, eps, wd):
  """AlgoPerf's JAX NAdamW chain (scale_by_nadam -> add_decayed_weights -> -lr), from the spec."""
  def init(params):
    zeros = jax.tree.map(jnp.zeros_like, params)
    return (jnp.zeros([], jnp.int32), zeros, zeros)

  def update(g, state, params):
    count, mu, nu = state
    count = count + 1
    mu = jax.tree.map(lambda m, x: b1 * m + (1 - b1) * x, mu, g)
    nu = jax.tree.map(lambda v, x: b2 * v + (1 - b2) * x * x, nu, g)
    t = count.astype(jnp.float32)
    mhat = jax.tree.map(lambda m, x: (b1 * m + (1 - b1) * x) / (1 - b1 ** t), mu, g)
    vhat = jax.tree.map(lambda v: v / (1 - b2 ** t), nu)
    u = jax.tree.map(lambda m, v, p: -lr * (m / (jnp.sqrt(v) + eps) + wd * p), mhat, vhat, params)
    return u, (count, mu, nu)
  return optax.GradientTransformation(init, update)


def test_nadamw_matches_algoperf_chain():
  params = tree(1)
  grads = [tree(20 + t) for t in range(4)]
  hp = dict(b1=1 - 0.0673, b2=0.9955, eps=1e-8)
  ours, state = run_ours(optax_ops.nadamw(1.7e-3, weight_decay=0.08, **hp), params, grads)
  ref, (_, mu, nu) = run_optax(algoperf_nadamw(1.7e-3, wd=0.08, **hp), params, grads)
  for k in SHAPES:
    close(ours[k], ref[k])
    close(state.mu[k], mu[k])
    close(state.nu[k], nu[k])


# Leaves past the kernels' parallel threshold (131,072 elements in a call): the FFI call then splits its
# work with XLA's intra-op threads.
LARGE_SHAPES = {'w': (700, 300), 'v': (65536 * 2 + 9,), 'b': (70,)}


@pytest.mark.parametrize('shapes', [SHAPES, LARGE_SHAPES], ids=['small', 'large'])
def test_ffi_is_bit_identical_to_the_cpu_kernels(shapes):
  def tree_of(seed):
    rng = np.random.default_rng(seed)
    return {k: jnp.asarray(rng.standard_normal(s).astype(np.float32)) for k, s in shapes.items()}
  params = tree_of(2)
  grads = [tree_of(30 + t) for t in range(3)]
  ours, state = run_ours(optax_ops.nadamw(1e-2, weight_decay=0.1, power=2.0), params, grads)
  for k in shapes:
    p = np.asarray(params[k], np.float32).ravel()
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    for t, g in enumerate(grads, 1):
      p, m, v = R.adamw(p, np.asarray(g[k]).ravel(), m, v, lr=np.float32(1e-2), step=t, beta1=0.9, beta2=0.999,
                        eps=1e-8, weight_decay=0.1, nesterov=True)
    np.testing.assert_array_equal(np.asarray(ours[k]).ravel(), p)
    np.testing.assert_array_equal(np.asarray(state.mu[k]).ravel(), m)
    np.testing.assert_array_equal(np.asarray(state.nu[k]).ravel(), v)


def test_update_is_in_place_with_donation():
  opt = optax_ops.adamw(1e-3, weight_decay=0.1)
  step = opt.jit_step()
  params = jax.tree.map(jnp.copy, tree(3))  # owned by XLA: numpy-backed buffers cannot be donated
  state = opt.init(params)
  g = tree(4)
  for _ in range(2):
    before = [x.unsafe_buffer_pointer() for x in jax.tree.leaves((params, state.mu, state.nu))]
    params, state = step(g, state, params)
    after = [x.unsafe_buffer_pointer() for x in jax.tree.leaves((params, state.mu, state.nu))]
    assert before == after
  hlo = jax.jit(lambda p, s, g: opt.step(g, s, p), donate_argnums=(0, 1)).lower(params, state, g).compile().as_text()
  assert 'custom-call' in hlo and ' copy(' not in hlo
  # bf16 params (write-only in the kernel, aliased all the same) and their fp32 masters too.
  params = jax.tree.map(lambda x: jnp.copy(x.astype(jnp.bfloat16)), tree(3))
  state = opt.init(params)
  g = jax.tree.map(lambda x: x.astype(jnp.bfloat16), g)
  for _ in range(2):
    before = [x.unsafe_buffer_pointer() for x in jax.tree.leaves((params, state.mu, state.nu, state.master))]
    params, state = step(g, state, params)
    after = [x.unsafe_buffer_pointer() for x in jax.tree.leaves((params, state.mu, state.nu, state.master))]
    assert before == after


def test_lr_and_step_are_data_not_attributes():
  """Changing lr or step reuses the compiled step (scalars travel in a buffer)."""
  hyper = dict(beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, power=2.0)

  @jax.jit
  def f(p, g, m, v, lr, step):
    out = jax_ops.apply('adam', [[p], [g], [m], [v]], hyper, dict(lr=lr, step=step))
    return out[0][0]

  x = jnp.ones(10)
  for t in range(1, 5):
    f(x, x, x, x, jnp.float32(1e-3 * t), jnp.float32(t))
  assert f._cache_size() == 1


def test_dropin_transformation_matches_fast_form():
  params = tree(5)
  grads = [tree(40 + t) for t in range(3)]
  opt = optax_ops.adamw(1e-2, weight_decay=0.1)
  fast, _ = run_ours(opt, params, grads)
  tx = opt.transformation()
  slow, _ = run_optax(tx, params, grads)
  for k in SHAPES:
    # old + (new - old) can differ from new by an ulp of old, and old was larger than new for
    # some elements: the absolute bound scales with the starting values.
    close(slow[k], fast[k], scale=max(np.abs(np.asarray(params[k])).max(), np.abs(np.asarray(fast[k])).max()))
  ref, _ = run_optax(optax.adamw(1e-2, weight_decay=0.1), params, grads)
  for k in SHAPES:
    close(slow[k], ref[k], scale=max(np.abs(np.asarray(params[k])).max(), np.abs(np.asarray(ref[k])).max()))


def test_bf16_leaves_use_fp32_masters():
  params = {'a': tree(6)['w'].astype(jnp.bfloat16), 'b': tree(7)['b']}
  grads = [{'a': tree(50 + t)['w'].astype(jnp.bfloat16), 'b': tree(60 + t)['b']} for t in range(3)]
  ours, state = run_ours(optax_ops.adamw(1e-2, weight_decay=0.1), params, grads)
  assert ours['a'].dtype == jnp.bfloat16 and state.master['a'].dtype == jnp.float32 and state.master['b'] is None
  p = np.asarray(params['a'], np.float32).ravel()
  m, v = np.zeros_like(p), np.zeros_like(p)
  for t, g in enumerate(grads, 1):
    p, m, v = R.adamw(p, np.asarray(g['a'], np.float32).ravel(), m, v, lr=np.float32(1e-2), step=t, beta1=0.9,
                      beta2=0.999, eps=1e-8, weight_decay=0.1)
  np.testing.assert_array_equal(np.asarray(state.master['a']).ravel(), p)
  np.testing.assert_array_equal(np.asarray(ours['a']).view(np.uint16).ravel(), R.bf16_round(p))


def test_sgd_matches_optax_trace():
  params = tree(8)
  grads = [tree(70 + t) for t in range(4)]
  ours, _ = run_ours(optax_ops.sgd(0.5, momentum=0.97, nesterov=True, weight_decay=2e-4), params, grads)
  tx = optax.chain(optax.trace(decay=0.97, nesterov=True), optax.add_decayed_weights(2e-4), optax.scale(-0.5))
  ref, _ = run_optax(tx, params, grads)
  for k in SHAPES:
    close(ours[k], ref[k])


def test_ema_and_schedule_free_through_ffi():
  emas, params = tree(9), tree(10)
  new = jax.jit(lambda e, p: optax_ops.ema(e, p, 0.99), donate_argnums=(0,))(jax.tree.map(jnp.copy, emas), params)
  for k in SHAPES:
    want = R.lerp(np.asarray(emas[k]), np.asarray(params[k]), 1 - 0.99)
    np.testing.assert_array_equal(np.asarray(new[k]), want)
  y, g, z, v = (np.asarray(tree(s)['w']) for s in (11, 12, 13, 14))
  v = np.abs(v)
  hp = dict(beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01)
  out = jax_ops.apply('sf_step', [[jnp.asarray(y)], [jnp.asarray(g)], [jnp.asarray(z)], [jnp.asarray(v)]], hp,
                      dict(lr=1e-2, step=3, c=0.25))
  ry, rz, rv = R.sf_adamw_step(y, g, z, v, lr=np.float32(1e-2), step=3, c=np.float32(0.25), **hp)
  for got, want in ((out[0][0], ry), (out[2][0], rz), (out[3][0], rv)):
    np.testing.assert_array_equal(np.asarray(got), want)
  # LAWA push: an op with no per-step scalars (empty scalar buffer).
  out = jax_ops.apply('lawa_push', [[jnp.asarray(z)], [jnp.asarray(v)], [jnp.asarray(y)]], {}, {})
  rs, rslot = R.lawa_push(z, v, y)
  np.testing.assert_array_equal(np.asarray(out[0][0]), rs)
  np.testing.assert_array_equal(np.asarray(out[1][0]), rslot)


def test_bad_input_raises_value_error():
  with pytest.raises(ValueError, match=r'grads\[0\]: expected shape \(4,\)'):
    jax_ops.apply('adam', [[jnp.ones(4)], [jnp.ones(5)], [jnp.ones(4)], [jnp.ones(4)]],
                  dict(beta1=0.9, beta2=0.9, eps=1e-8, weight_decay=0.0, power=2.0), dict(lr=1.0, step=1))
  with pytest.raises(ValueError, match=r'exp_avgs\[0\]: expected dtype float32, got int32'):
    jax_ops.apply('adam', [[jnp.ones(4)], [jnp.ones(4)], [jnp.ones(4, jnp.int32)], [jnp.ones(4)]],
                  dict(beta1=0.9, beta2=0.9, eps=1e-8, weight_decay=0.0, power=2.0), dict(lr=1.0, step=1))

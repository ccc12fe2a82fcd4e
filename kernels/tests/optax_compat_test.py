"""optax_ops as a drop-in for optax: real GradientTransformations with optax's signature, composing
with optax.chain, inject_hyperparams, MultiSteps and flax's TrainState; an update that copies no
parameters; state placed like the params.

References: optax itself (an independent implementation) and a numpy formula of the AlgoPerf
NAdamW. The kernel rounds in torch's order (FMAs in lerp and addcmul), optax in XLA's: rtol 1e-6
with atol 1e-6 x max|ref| for elements produced by cancellation (see cpu_parity_test.py).
"""
import inspect
import os
import re

os.environ['XLA_FLAGS'] = os.environ.get('XLA_FLAGS', '') + ' --xla_force_host_platform_device_count=2'

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import pytest  # noqa: E402
from flax.training import train_state  # noqa: E402

from algoperf_kernels import optax_ops  # noqa: E402

SHAPES = {'w': (32, 17), 'b': (17,), 'k': (3, 4, 5)}


def tree(seed, dtype=jnp.float32):
  rng = np.random.default_rng(seed)
  return {k: jnp.asarray(rng.standard_normal(s), dtype) for k, s in SHAPES.items()}


def close(a, b, rtol=1e-6):
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max())


def run(tx, params, n, start=0, jit=True):
  state = tx.init(params)
  update = jax.jit(tx.update) if jit else tx.update
  for t in range(start, start + n):
    u, state = update(tree(100 + t), state, params)
    params = optax.apply_updates(params, u)
  return params, state


def test_is_a_gradient_transformation_with_optaxs_signature():
  ours, theirs = inspect.signature(optax_ops.adamw).parameters, inspect.signature(optax.adamw).parameters
  assert list(ours)[:len(theirs)] == list(theirs)
  for name, p in theirs.items():
    assert ours[name].default == p.default and ours[name].kind == p.kind, name
  assert list(inspect.signature(optax_ops.nadamw).parameters)[:8] == list(inspect.signature(optax.nadamw).parameters)[:8]
  tx = optax_ops.adamw(1e-3)
  assert isinstance(tx, optax.GradientTransformation) and callable(tx.update) and callable(tx.step)


@pytest.mark.parametrize('kw', [dict(), dict(weight_decay=0.1, mask={'w': True, 'b': False, 'k': True}),
                                dict(eps_root=1e-6, b1=0.8, b2=0.95, mask=lambda p: {k: k != 'b' for k in p}),
                                dict(mu_dtype=jnp.float32, learning_rate=optax.linear_schedule(1e-2, 1e-3, 5))])
def test_update_matches_optax_adamw(kw):
  kw = dict(dict(learning_rate=1e-2), **kw)
  ours, _ = run(optax_ops.adamw(**kw), tree(0), 6)
  theirs, _ = run(optax.adamw(**kw), tree(0), 6)
  for k in SHAPES:
    close(ours[k], theirs[k])


def test_nadamw_is_the_algoperf_formula_not_optax_nadamw():
  lr, b1, b2, eps, wd = 1e-2, 0.9, 0.99, 1e-8, 0.1
  ours, _ = run(optax_ops.nadamw(lr, b1, b2, eps, weight_decay=wd), tree(1), 5)
  p = {k: np.asarray(v, np.float64) for k, v in tree(1).items()}
  m = {k: np.zeros_like(v) for k, v in p.items()}
  v = {k: np.zeros_like(x) for k, x in p.items()}
  for t in range(1, 6):
    g = {k: np.asarray(x, np.float64) for k, x in tree(100 + t - 1).items()}
    for k in p:
      m[k] = b1 * m[k] + (1 - b1) * g[k]
      v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
      num = (b1 * m[k] + (1 - b1) * g[k]) / (1 - b1 ** t)
      p[k] = p[k] - lr * (num / (np.sqrt(v[k] / (1 - b2 ** t)) + eps) + wd * p[k])
  for k in SHAPES:
    close(ours[k], p[k])
  theirs, _ = run(optax.nadamw(lr, b1, b2, eps, weight_decay=wd), tree(1), 5)
  assert max(np.abs(np.asarray(ours[k]) - np.asarray(theirs[k])).max() for k in SHAPES) > 1e-5
  assert 'optax.nadamw' in optax_ops.nadamw.__doc__ and 'nesterov' in optax_ops.adamw.__doc__
  assert 'mu_dtype' in optax_ops.adamw.__doc__


def test_composes_with_chain():
  ours, _ = run(optax.chain(optax.clip_by_global_norm(0.5), optax_ops.adamw(1e-2, weight_decay=0.1)), tree(2), 5)
  theirs, _ = run(optax.chain(optax.clip_by_global_norm(0.5), optax.adamw(1e-2, weight_decay=0.1)), tree(2), 5)
  for k in SHAPES:
    close(ours[k], theirs[k])


def test_composes_with_inject_hyperparams():
  results = []
  for factory in (optax_ops.adamw, optax.adamw):
    tx = optax.inject_hyperparams(factory)(learning_rate=1e-2, b1=0.8, weight_decay=0.05)
    params, state = tree(3), None
    state = tx.init(params)
    update = jax.jit(tx.update)
    for t in range(6):
      if t == 3:  # change hyper-parameters in the state, as a user of inject_hyperparams does
        state.hyperparams['learning_rate'] = jnp.asarray(3e-3)
        state.hyperparams['b1'] = jnp.asarray(0.95)
      u, state = update(tree(100 + t), state, params)
      params = optax.apply_updates(params, u)
    results.append(params)
  for k in SHAPES:
    close(results[0][k], results[1][k])


def test_composes_with_multisteps():
  ours, _ = run(optax.MultiSteps(optax_ops.adamw(1e-2), every_k_schedule=2), tree(4), 6)
  theirs, _ = run(optax.MultiSteps(optax.adamw(1e-2), every_k_schedule=2), tree(4), 6)
  for k in SHAPES:
    close(ours[k], theirs[k])


def test_composes_with_flax_train_state():
  out = []
  for tx in (optax_ops.adamw(1e-2, weight_decay=0.1), optax.adamw(1e-2, weight_decay=0.1)):
    state = train_state.TrainState.create(apply_fn=None, params=tree(5), tx=tx)
    apply = jax.jit(lambda s, g: s.apply_gradients(grads=g))
    for t in range(4):
      state = apply(state, tree(100 + t))
    assert int(state.step) == 4
    out.append(state.params)
  for k in SHAPES:
    close(out[0][k], out[1][k])


def test_update_copies_no_parameter_and_allocates_no_update():
  """In a jitted train step (params and state donated), the kernel reads the params and writes the
  update over the gradient, which is dead by then: XLA inserts no copy of anything."""
  tx = optax_ops.adamw(1e-2, weight_decay=0.1)
  params = tree(6)

  def train_step(p, s, x):
    g = jax.grad(lambda q: sum(jnp.sum(jnp.sin(q[k]) * x[k]) for k in q))(p)
    u, s = tx.update(g, s, p)
    return optax.apply_updates(p, u), s

  hlo = jax.jit(train_step, donate_argnums=(0, 1)).lower(params, tx.init(params), tree(7)).compile().as_text()
  entry = hlo[hlo.index('ENTRY'):]
  entry = entry[:entry.index('\n}')]
  copies = re.findall(r'= \S+ copy(?:-start)?\(', entry)  # copies fused into a producer cost nothing
  assert not copies, copies
  assert hlo.count('custom_call_target="algoperf_kernels_apply"') == 1  # one call for all fp32 leaves
  assert 'output_to_operand_aliasing' in hlo


def test_state_is_placed_with_the_params_sharding():
  devices = jax.devices('cpu')
  assert len(devices) == 2
  mesh = jax.sharding.Mesh(np.array(devices), ('x',))
  shard = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec('x'))
  params = {'w': jax.device_put(jnp.ones((8, 3)), shard), 'b': jax.device_put(jnp.ones(3), devices[1])}
  state = optax_ops.adamw(1e-2).init(params)
  for k in params:
    assert state.mu[k].sharding == params[k].sharding and state.nu[k].sharding == params[k].sharding, k


def test_bf16_update_is_the_fp32_update_rounded_once():
  p16, g16 = tree(8, jnp.bfloat16), tree(9, jnp.bfloat16)
  tx = optax_ops.adamw(1e-2, weight_decay=0.1)
  u16, s16 = jax.jit(tx.update)(g16, tx.init(p16), p16)
  p32, g32 = (jax.tree.map(lambda x: x.astype(jnp.float32), t) for t in (p16, g16))
  u32, s32 = jax.jit(tx.update)(g32, tx.init(p32), p32)
  for k in SHAPES:
    assert u16[k].dtype == jnp.bfloat16 and s16.mu[k].dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(u16[k]), np.asarray(u32[k].astype(jnp.bfloat16)))
    np.testing.assert_array_equal(np.asarray(s16.nu[k]), np.asarray(s32.nu[k]))


def test_float16_leaves_take_the_jnp_fallback():
  p16 = tree(10, jnp.float16)
  ours, state = run(optax_ops.adamw(1e-2, weight_decay=0.1), p16, 3)
  theirs, _ = run(optax.adamw(1e-2, weight_decay=0.1), jax.tree.map(lambda x: x.astype(jnp.float32), p16), 3)
  for k in SHAPES:
    assert ours[k].dtype == jnp.float16 and state.mu[k].dtype == jnp.float32
    close(ours[k], theirs[k], rtol=2e-3)


def test_bad_hyperparameters_raise_one_sentence():
  with pytest.raises(ValueError, match=r'adamw: learning_rate=-1.0 is invalid; it must be >= 0'):
    optax_ops.adamw(-1.0)
  with pytest.raises(ValueError, match=r'adamw: b2=1.5 is invalid; it must be in \[0.0, 1.0\)'):
    optax_ops.adamw(1e-3, b2=1.5)
  with pytest.raises(ValueError, match=r'mu_dtype=bfloat16 is not supported'):
    optax_ops.adamw(1e-3, mu_dtype=jnp.bfloat16)
  tx = optax_ops.adamw(1e-3)
  with pytest.raises(ValueError, match=r'update\(\) needs params'):
    tx.update(tree(0), tx.init(tree(0)))


def test_bf16_in_place_step_edits_go_through_sync_master():
  opt = optax_ops.adamw(1e-3, weight_decay=0.0)
  params = tree(11, jnp.bfloat16)
  state = opt.init(params)
  step = opt.jit_step()
  params, state = step(tree(12, jnp.bfloat16), state, params)
  edited = jax.tree.map(lambda x: jnp.ones_like(x), params)
  lost, _ = step(tree(13, jnp.bfloat16), jax.tree.map(jnp.copy, state), jax.tree.map(jnp.copy, edited))
  assert max(float(jnp.abs(lost[k].astype(jnp.float32) - 1).max()) for k in SHAPES) > 0.5
  state = optax_ops.sync_master(state, edited)
  kept, _ = step(tree(13, jnp.bfloat16), state, jax.tree.map(jnp.copy, edited))
  assert max(float(jnp.abs(kept[k].astype(jnp.float32) - 1).max()) for k in SHAPES) < 0.02


def test_update_kernel_gives_the_same_bits_on_the_generic_and_avx2_paths():
  import algoperf_kernels as ak
  tx = optax_ops.nadamw(1e-2, weight_decay=0.1, eps_root=1e-9)
  params = {'x': jnp.asarray(np.random.default_rng(0).standard_normal(1000), jnp.float32)}
  out = []
  for isa in ('generic', 'auto'):
    ak.set_cpu_isa(isa)
    try:
      u, s = tx.update({'x': params['x'] * 0.5 + 0.1}, tx.init(params), params)
      out.append((np.asarray(u['x']), np.asarray(s.nu['x'])))
    finally:
      ak.set_cpu_isa('auto')
  np.testing.assert_array_equal(out[0][0], out[1][0])
  np.testing.assert_array_equal(out[0][1], out[1][1])


def test_sgd_update_matches_optax_chain():
  ours, _ = run(optax_ops.sgd(0.1, momentum=0.9, nesterov=True, weight_decay=1e-3), tree(14), 4)
  ref = optax.chain(optax.trace(0.9, nesterov=True), optax.add_decayed_weights(1e-3), optax.scale(-0.1))
  theirs, _ = run(ref, tree(14), 4)
  for k in SHAPES:
    close(ours[k], theirs[k])


@pytest.mark.parametrize('nesterov,power,eps_root', [(False, 2.0, 0.0), (True, 2.0, 1e-7), (True, 3.0, 0.0)])
def test_adam_update_kernel_equals_the_reference_bit_for_bit(nesterov, power, eps_root):
  """numpy_ops drives the same kernel as the FFI; reference.adam_update rounds as the kernel does."""
  from algoperf_kernels import numpy_ops
  from algoperf_kernels import reference as R
  rng = np.random.default_rng(3)
  n = 1037  # vector body plus a scalar tail
  p, m, v = (rng.standard_normal(n).astype(np.float32) for _ in range(3))
  v = np.abs(v)
  f32 = lambda x: float(np.float32(x))  # the FFI path carries every scalar as float32; do the same here
  hp = dict(lr=f32(3e-3), beta1=f32(0.9), beta2=f32(0.99), eps=f32(1e-8), eps_root=f32(eps_root),
            weight_decay=f32(0.1), nesterov=nesterov, power=power)
  rp, rm, rv = p.copy(), m.copy(), v.copy()
  for step in (1, 2, 3):
    g = rng.standard_normal(n).astype(np.float32)
    u = g.copy()
    numpy_ops.adam_update([p], [u], [m], [v], step=step, **hp)
    ru, rm, rv = R.adam_update(rp, g, rm, rv, step=step, **hp)
    if power == 2.0:
      np.testing.assert_array_equal(u, ru)
      np.testing.assert_array_equal(m, rm)
      np.testing.assert_array_equal(v, rv)
    else:  # powf is not correctly rounded: a few ulp
      np.testing.assert_allclose(u, ru, rtol=1e-6, atol=1e-6 * np.abs(ru).max())
  assert np.all(np.isfinite(u))


def _special_pair(n, seed):
  """float32 params and updates with signed zeros, infinities, NaN, subnormals and cancellations."""
  rng = np.random.default_rng(seed)
  p = rng.standard_normal(n).astype(np.float32)
  u = (rng.standard_normal(n) * 1e-3).astype(np.float32)
  p[:8] = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40, 1.0, 3.0]
  u[:8] = [-0.0, -0.0, 1.0, -1.0, 1.0, -1e-40, -1.0, 2.0 ** -23]
  u[8:16] = -p[8:16]  # exact cancellation: +0.0
  return p, u


def test_apply_updates_is_optax_apply_updates_bit_for_bit():
  """p + u rounded once, as numpy adds float32: kernel leaves (float32, any shape, a scalar tail)
  and the leaves optax's formula keeps (bf16, mixed dtypes, numpy arrays, None)."""
  p1, u1 = _special_pair(1037, 0)
  p2, u2 = _special_pair(7 * 3 * 3 * 2, 1)
  params = {'a': jnp.asarray(p1), 'k': jnp.asarray(p2.reshape(7, 3, 3, 2)), 'none': None,
            'h': jnp.asarray(p1[:40], jnp.bfloat16), 'mixed': jnp.asarray(p1[:9]), 'np': p1[:5], 'e': jnp.zeros((0, 3))}
  updates = {'a': jnp.asarray(u1), 'k': jnp.asarray(u2.reshape(7, 3, 3, 2)), 'none': None,
             'h': jnp.asarray(u1[:40], jnp.bfloat16), 'mixed': jnp.asarray(u1[:9], jnp.bfloat16), 'np': u1[:5],
             'e': jnp.zeros((0, 3))}
  for fn in (optax_ops.apply_updates, jax.jit(optax_ops.apply_updates)):
    ours, theirs = fn(params, updates), optax.apply_updates(params, updates)
    assert jax.tree.structure(ours, is_leaf=lambda x: x is None) == \
        jax.tree.structure(theirs, is_leaf=lambda x: x is None)
    assert ours['none'] is None
    np.testing.assert_array_equal(np.asarray(ours['a']), p1 + u1)  # numpy: the independent reference
    np.testing.assert_array_equal(np.asarray(ours['k']).ravel(), p2 + u2)
    np.testing.assert_array_equal(np.signbit(np.asarray(ours['a'])), np.signbit(p1 + u1))  # signed zeros too
    assert np.signbit(np.asarray(ours['a'])[:2]).tolist() == [False, True]  # 0 + -0 = +0, -0 + -0 = -0
    for k in ('a', 'k', 'h', 'mixed', 'np', 'e'):
      assert ours[k].dtype == theirs[k].dtype and ours[k].shape == theirs[k].shape, k
      np.testing.assert_array_equal(np.asarray(ours[k], np.float32), np.asarray(theirs[k], np.float32), err_msg=k)
  np.testing.assert_array_equal(np.asarray(params['a']), p1)  # not donated: the params are untouched


def test_apply_updates_runs_one_kernel_in_place_over_donated_params():
  """A train step with tx.update and optax_ops.apply_updates: two kernel calls for all float32
  leaves (the update over the dead gradient, then p + u over the donated params), no copy."""
  tx = optax_ops.adamw(1e-2, weight_decay=0.1)
  params = tree(6)

  def train_step(p, s, x):
    g = jax.grad(lambda q: sum(jnp.sum(jnp.sin(q[k]) * x[k]) for k in q))(p)
    u, s = tx.update(g, s, p)
    return optax_ops.apply_updates(p, u), s

  step = jax.jit(train_step, donate_argnums=(0, 1))
  hlo = step.lower(params, tx.init(params), tree(7)).compile().as_text()
  entry = hlo[hlo.index('ENTRY'):]
  entry = entry[:entry.index('\n}')]
  assert not re.findall(r'= \S+ copy(?:-start)?\(', entry)
  assert hlo.count('custom_call_target="algoperf_kernels_apply"') == 2
  assert hlo.count('output_to_operand_aliasing') == 2  # both in place
  # Same values as optax.apply_updates in the same step.
  ref_step = jax.jit(lambda p, s, x: (lambda g: (lambda us: (optax.apply_updates(p, us[0]), us[1]))(
      tx.update(g, s, p)))(jax.grad(lambda q: sum(jnp.sum(jnp.sin(q[k]) * x[k]) for k in q))(p)))
  want, _ = ref_step(tree(6), tx.init(tree(6)), tree(7))
  got, _ = step(tree(6), tx.init(tree(6)), tree(7))
  for k in SHAPES:
    np.testing.assert_array_equal(np.asarray(got[k]), np.asarray(want[k]))


def test_write_over_rejects_lists_it_cannot_share():
  from algoperf_kernels import jax_ops
  x = [jnp.ones(4)]
  with pytest.raises(ValueError, match='written only'):
    jax_ops.apply('triad', [None, x, x], {}, dict(scalar=1.0), write_over={1: 2})  # list 1 is read
  with pytest.raises(ValueError, match='pass None'):
    jax_ops.apply('triad', [x, x, x], {}, dict(scalar=1.0), write_over={0: 1})
  out = jax_ops.apply('triad', [None, [jnp.full(4, 2.0)], [jnp.full(4, 3.0)]], {}, dict(scalar=0.5),
                      write_over={0: 2})[0]
  np.testing.assert_array_equal(np.asarray(out[0]), np.full(4, 3.5, np.float32))  # 2 + 0.5 * 3 into c's place

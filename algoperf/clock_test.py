"""The clock's bound on asynchronous dispatch: with several XLA:CPU devices it waits for every fourth step."""
import os

os.environ['XLA_FLAGS'] = '--xla_force_host_platform_device_count=2'  # Before JAX starts.

import jax  # pylint: disable=wrong-import-position
import jax.numpy as jnp  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position

from algoperf import clock as clock_lib  # pylint: disable=wrong-import-position


def _recording_clock(monkeypatch=None, devices=None):
  if monkeypatch is not None:
    monkeypatch.setattr(jax, 'local_device_count', lambda: devices)
  clock = clock_lib.Clock('jax')
  synced = []
  clock._sync = synced.append  # pylint: disable=protected-access
  return clock, synced


def test_two_cpu_devices_wait_for_every_fourth_step():
  assert jax.local_device_count() == 2
  clock, synced = _recording_clock()
  for step in range(1, 10):
    clock.lap({'step': step})
    clock.lap()  # The runner's second lap of a step (no outputs) neither syncs nor counts.
  every = clock_lib.MAX_STEPS_AHEAD_ON_MULTI_DEVICE_CPU
  assert every < 32 // 4  # Well inside XLA:CPU's 32 in-flight programs per device, with a few per step.
  assert synced == [{'step': s} for s in range(every, 10, every)]


def test_one_device_keeps_full_asynchronous_dispatch(monkeypatch):
  clock, synced = _recording_clock(monkeypatch, devices=1)
  for step in range(1, 20):
    clock.lap({'step': step})
  assert not synced
  clock.now({'step': 20})  # A total is read: always synced.
  assert synced == [{'step': 20}]


def test_a_training_loop_on_two_cpu_devices_does_not_deadlock():
  """3,000 small data-parallel steps (an all-reduce each) dispatched back to back through the clock, as the
  runner does. Without the bound this loop aborts on XLA's 40 s rendezvous timeout every time on 2 cores
  (measured: 3 of 3 runs); the clock only ever waits for the newest outputs (older ones are donated)."""
  mesh = jax.make_mesh((2,), ('batch',))
  batch_sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec('batch'))
  replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())

  def sgd_step(w, x):
    grad = jax.grad(lambda w: jnp.mean(jnp.tanh(x @ w) ** 2))(w)
    return w - 0.01 * grad

  step = jax.jit(sgd_step, out_shardings=replicated, donate_argnums=0)
  clock = clock_lib.Clock('jax')
  w = jax.device_put(jnp.eye(64), replicated)
  x = jax.device_put(jnp.ones((32, 64)), batch_sharding)
  expected = np.eye(64, dtype=np.float32)
  for _ in range(3_000):
    w = step(w, x)
    clock.lap(w)
  clock.now(w)
  for _ in range(3_000):  # The same steps in numpy: the devices ran every one, in order.
    h = np.tanh(np.ones((32, 64), np.float32) @ expected)
    expected = expected - 0.01 * (np.ones((32, 64), np.float32).T @ (2 * h * (1 - h ** 2))) / h.size
  np.testing.assert_allclose(np.asarray(w), expected, rtol=1e-4, atol=1e-6)

"""The benchmark clock: wall time, read only after the device has finished the work it was given.

JAX dispatches asynchronously and CUDA kernels run after Python returns, so reading `time.time()` right
after `update_params` would charge the step's work to whatever comes next (often the untimed eval).
`Clock.now(outputs)` first blocks on `outputs` (JAX) or synchronises the CUDA device (PyTorch); under
PyTorch DDP every rank then agrees on the slowest rank's time.
"""
import time
from typing import Any, Callable, Optional

# How many steps JAX may dispatch ahead of the devices when XLA:CPU drives several devices. Its CPU client
# runs each device's part of a multi-device program on a pool with one thread per device (or per core), and
# a part that waits for its device's in-flight slot (32 per device) keeps its thread while it waits. A loop
# that dispatches further ahead than that fills the slots, the waiting parts take every pool thread, the
# oldest program's other part never runs, and its all-reduce aborts the process after 40 s (CI on 2 cores;
# here 2 of 23 runs of the two-device trial beside two busy loops). Syncing every few steps keeps each
# device's queue far below 32 slots.
# Elsewhere (one device, GPUs) the steps keep unbounded asynchronous dispatch, as upstream's runner does.
MAX_STEPS_AHEAD_ON_MULTI_DEVICE_CPU = 4


class Clock:

  def __init__(self, framework: str, device: Optional[Any] = None):
    self.framework = framework
    self._device = device
    self._sync: Callable[[Any], None] = self._no_sync
    self._ddp_time: Callable[[float], float] = lambda t: t
    self._is_ddp = False
    self._sync_every_steps = 0  # 0: never sync between evals.
    self._steps_lapped = 0
    if framework == 'jax':
      import jax  # pylint: disable=import-outside-toplevel
      self._sync = jax.block_until_ready
      if jax.default_backend() == 'cpu' and jax.local_device_count() > 1:
        self._sync_every_steps = MAX_STEPS_AHEAD_ON_MULTI_DEVICE_CPU
    elif framework == 'pytorch':
      import torch  # pylint: disable=import-outside-toplevel
      from algoperf import pytorch_utils  # pylint: disable=import-outside-toplevel
      if torch.cuda.is_available():
        self._sync = lambda _: torch.cuda.synchronize()
      use_ddp, _, ddp_device, _ = pytorch_utils.pytorch_setup()
      if use_ddp:
        self._is_ddp = True
        self._ddp_time = lambda t: pytorch_utils.sync_ddp_time(t, ddp_device)
    else:
      raise ValueError(f'Unknown framework {framework!r}; use "jax" or "pytorch".')

  @staticmethod
  def _no_sync(_: Any) -> None:
    return None

  def now(self, outputs: Any = None) -> float:
    """Seconds since the epoch, after `outputs` (and all queued device work) are ready."""
    self._sync(outputs)
    return self._ddp_time(time.time())

  def lap(self, outputs: Any = None) -> float:
    """A step's end time without waiting for the device (the runner calls this every step).

    Step times telescope: the sum of (end_k - end_{k-1}) is end_last - start, so reading `now` (synced)
    whenever a total is used (the eval gate, the budget) keeps every recorded total exact, while the
    steps in between keep JAX's asynchronous dispatch. Under DDP every rank must take the same branch at
    the eval gate, so the ranks agree on a synced time every step, as upstream does. With several XLA:CPU
    devices every MAX_STEPS_AHEAD_ON_MULTI_DEVICE_CPU-th step's `outputs` are waited for (see there).
    """
    if self._is_ddp:
      return self.now(outputs)
    if outputs is not None and self._sync_every_steps:
      self._steps_lapped += 1
      if self._steps_lapped % self._sync_every_steps == 0:
        self._sync(outputs)
    return time.time()

"""The benchmark clock: wall time, read only after the device has finished the work it was given.

JAX dispatches asynchronously and CUDA kernels run after Python returns, so reading `time.time()` right
after `update_params` would charge the step's work to whatever comes next (often the untimed eval).
`Clock.now(outputs)` first blocks on `outputs` (JAX) or synchronises the CUDA device (PyTorch); under
PyTorch DDP every rank then agrees on the slowest rank's time.
"""
import time
from typing import Any, Callable, Optional


class Clock:

  def __init__(self, framework: str, device: Optional[Any] = None):
    self.framework = framework
    self._device = device
    self._sync: Callable[[Any], None] = self._no_sync
    self._ddp_time: Callable[[float], float] = lambda t: t
    self._is_ddp = False
    if framework == 'jax':
      import jax  # pylint: disable=import-outside-toplevel
      self._sync = jax.block_until_ready
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
    the eval gate, so the ranks agree on a synced time every step, as upstream does.
    """
    if self._is_ddp:
      return self.now(outputs)
    return time.time()

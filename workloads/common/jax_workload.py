"""What every JAX workload shares: device placement of batches, the jitted eval step, and the two layouts.

Two layouts of parameters and batches (spec/harness.md, "JAX parallelism: pmap (v0.5) vs jit (v0.6)"):
- `jit` (v0.6, the default): parameters are global arrays replicated over a device mesh; batches are global
  arrays `(batch, ...)` split along the batch dimension. Submissions jit their update.
- `pmap` (the v0.5 runner): `init_model_fn` returns parameters and model state with a leading device axis
  (one replica per local device, what `flax.jax_utils.replicate` makes); training batches are
  `(num_local_devices, batch / num_local_devices, ...)`; submissions run their update under
  `jax.pmap(..., axis_name=...)` and `eval_model` takes the replicated parameters. `model_fn` and
  `loss_fn` are the same in both: under pmap they see one device's parameters and slice of the batch.

The pmap layout is applied around each workload's own `init_model_fn` and `_build_input_queue`
(`__init_subclass__` wraps them), so every JAX workload gets it without code of its own. Evals unreplicate
the parameters (the replicas are identical) and run the jitted eval on the global eval batches, which gives
the same sums as upstream's pmapped eval.
"""
import functools
from typing import Any, Dict, Iterator, Optional

import jax
import numpy as np

from algoperf import data_utils
from algoperf import jax_sharding_utils
from workloads.common.base import MappedIterable
from workloads.common.untimed_jit import untimed_jit

LAYOUTS = ('jit', 'pmap')


def replicate_over_devices(tree: Any) -> Any:
  """Adds a leading axis with one copy per local device, placed one copy per device (pmap's input layout)."""
  n = jax.local_device_count()
  sharding = jax_sharding_utils.get_batch_dim_sharding()

  def rep(x):
    x = np.asarray(jax.device_get(x))
    return jax.device_put(np.broadcast_to(x[None], (n,) + x.shape), sharding)

  return jax.tree.map(rep, tree)


def unreplicate(tree: Any) -> Any:
  """The first replica of a pmap-layout tree (all replicas are equal after a pmean'd update)."""
  return jax.tree.map(lambda x: x[0], tree)


def split_over_devices(batch: Any) -> Any:
  """(batch, ...) -> (num_local_devices, batch / num_local_devices, ...), device k holding slice k."""
  n = jax.local_device_count()
  sharding = jax_sharding_utils.get_batch_dim_sharding()

  def split(x):
    if x.shape[0] % n:
      raise ValueError(f'A batch of {x.shape[0]} examples cannot be split over {n} devices; use a batch size '
                       f'that is a multiple of {n}.')
    return jax.device_put(x.reshape((n, x.shape[0] // n) + x.shape[1:]), sharding)

  return jax.tree.map(split, batch)


class JaxWorkloadMixin:
  """Put before the framework-neutral base: `class MnistWorkload(JaxWorkloadMixin, BaseMnistWorkload)`.

  `jax_layout` ('jit' or 'pmap', see the module docstring) is a constructor argument.
  """
  framework = 'jax'

  def __init__(self, *args, jax_layout: str = 'jit', **kwargs) -> None:
    if jax_layout not in LAYOUTS:
      raise ValueError(f'Unknown JAX layout {jax_layout!r}; use "jit" (v0.6) or "pmap" (v0.5).')
    self.jax_layout = jax_layout
    self._layout_depth = 0
    super().__init__(*args, **kwargs)

  def __init_subclass__(cls, **kwargs):
    super().__init_subclass__(**kwargs)
    for name, wrapper in (('init_model_fn', _init_in_layout), ('_build_input_queue', _queue_in_layout)):
      if name in cls.__dict__:
        setattr(cls, name, wrapper(cls.__dict__[name]))

  def _build_input_queue(self, data_rng, split: str, data_dir: str, global_batch_size: int,
                         cache: Optional[bool] = None, repeat_final_dataset: Optional[bool] = None,
                         num_batches: Optional[int] = None, start_step: int = 0) -> Iterator[Dict[str, Any]]:
    del cache, repeat_final_dataset, num_batches
    numpy_queue = self._build_numpy_queue(data_rng, split, data_dir, global_batch_size, start_step=start_step)
    if split == 'train':
      return (data_utils.to_jax(batch) for batch in numpy_queue)
    return MappedIterable(numpy_queue, data_utils.to_jax)

  def _split_train_batch(self, batch: Dict[str, Any]) -> Dict[str, Any]:
    """A global training batch in the pmap layout; workloads whose batches are not plain arrays
    split along their first axis (graph batches with global node indices) override this."""
    return split_over_devices(batch)

  def eval_model(self, global_batch_size: int, params, model_state, rng, data_dir: str,
                 imagenet_v2_data_dir: Optional[str] = None, global_step: int = 0) -> Dict[str, float]:
    if self.jax_layout == 'pmap':
      params, model_state = unreplicate(params), unreplicate(model_state)
    return super().eval_model(global_batch_size, params, model_state, rng, data_dir, imagenet_v2_data_dir,
                              global_step)

  def _eval_batch(self, params, batch, model_state, rng):
    if not hasattr(self, '_jitted_eval_metrics'):
      self._jitted_eval_metrics = untimed_jit(self._eval_metrics)
    return self._jitted_eval_metrics(params, batch, model_state, rng)

  def _eval_metrics(self, params, batch, model_state, rng) -> Dict[str, Any]:
    """Summed metrics of one batch: traced once and jitted."""
    raise NotImplementedError


def _init_in_layout(init_model_fn):
  """Replicates what the outermost `init_model_fn` returns when the layout is pmap."""

  @functools.wraps(init_model_fn)
  def wrapped(self, rng):
    self._layout_depth += 1  # A subclass's init that calls super() must not replicate twice.
    try:
      params, model_state = init_model_fn(self, rng)
    finally:
      self._layout_depth -= 1
    if self.jax_layout == 'pmap' and self._layout_depth == 0:
      params, model_state = replicate_over_devices(params), replicate_over_devices(model_state)
    return params, model_state

  return wrapped


def _queue_in_layout(build_input_queue):
  """Splits training batches over the devices when the layout is pmap (eval batches stay global)."""

  @functools.wraps(build_input_queue)
  def wrapped(self, data_rng, split, *args, **kwargs):
    self._layout_depth += 1
    try:
      queue = build_input_queue(self, data_rng, split, *args, **kwargs)
    finally:
      self._layout_depth -= 1
    if self.jax_layout == 'pmap' and split == 'train' and self._layout_depth == 0:
      return (self._split_train_batch(batch) for batch in queue)
    return queue

  return wrapped


# The mixin's own queue (used by workloads that do not build theirs) gets the layout too.
JaxWorkloadMixin._build_input_queue = _queue_in_layout(JaxWorkloadMixin._build_input_queue)  # pylint: disable=protected-access

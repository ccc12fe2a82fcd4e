"""What every JAX workload shares: device placement of numpy batches and the jitted eval step."""
from typing import Any, Dict, Iterator, Optional

import jax

from algoperf import data_utils
from workloads.common.base import MappedIterable


class JaxWorkloadMixin:
  """Put before the framework-neutral base: `class MnistWorkload(JaxWorkloadMixin, BaseMnistWorkload)`."""
  framework = 'jax'

  def _build_input_queue(self, data_rng, split: str, data_dir: str, global_batch_size: int,
                         cache: Optional[bool] = None, repeat_final_dataset: Optional[bool] = None,
                         num_batches: Optional[int] = None, start_step: int = 0) -> Iterator[Dict[str, Any]]:
    del cache, repeat_final_dataset, num_batches
    numpy_queue = self._build_numpy_queue(data_rng, split, data_dir, global_batch_size, start_step=start_step)
    if split == 'train':
      return (data_utils.to_jax(batch) for batch in numpy_queue)
    return MappedIterable(numpy_queue, data_utils.to_jax)

  def _eval_batch(self, params, batch, model_state, rng):
    if not hasattr(self, '_jitted_eval_metrics'):
      self._jitted_eval_metrics = jax.jit(self._eval_metrics)
    return self._jitted_eval_metrics(params, batch, model_state, rng)

  def _eval_metrics(self, params, batch, model_state, rng) -> Dict[str, Any]:
    """Summed metrics of one batch: traced once and jitted."""
    raise NotImplementedError


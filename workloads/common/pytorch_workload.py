"""What every PyTorch workload shares: the device, DDP batch slicing and torch batches from numpy."""
from typing import Any, Dict, Iterator, Optional

import torch
import torch.distributed as dist

from algoperf import data_utils
from algoperf import pytorch_utils
from workloads.common.base import MappedIterable


class PyTorchWorkloadMixin:
  """Put before the framework-neutral base: `class MnistWorkload(PyTorchWorkloadMixin, BaseMnistWorkload)`."""
  framework = 'pytorch'

  @property
  def device(self) -> torch.device:
    # Fixed for the process (LOCAL_RANK and the GPUs): looked up once, not for every batch.
    device = self.__dict__.get('_torch_device')
    if device is None:
      device = self._torch_device = pytorch_utils.pytorch_setup()[2]
    return device

  def _place_model(self, model: torch.nn.Module) -> torch.nn.Module:
    """Moves a new model to the device and wraps it in DDP under torchrun.

    A model built under `with torch.device('meta')` (parameter counting) stays where it is.
    """
    if any(p.is_meta for p in model.parameters()):
      return model
    use_ddp, rank, device, _ = pytorch_utils.pytorch_setup()
    model.to(device)
    if use_ddp:
      from torch.nn.parallel import DistributedDataParallel  # pylint: disable=import-outside-toplevel
      model = DistributedDataParallel(model, device_ids=[rank] if device.type == 'cuda' else None)
    return model

  def _rank_and_world(self):
    if dist.is_available() and dist.is_initialized():
      return dist.get_rank(), dist.get_world_size()
    return 0, 1

  def _to_device(self, batch: Dict[str, Any]) -> Dict[str, torch.Tensor]:
    """Each DDP rank takes its contiguous slice of the global batch."""
    rank, world = self._rank_and_world()
    if world > 1:
      per_rank = len(next(iter(batch.values()))) // world
      batch = {k: v[rank * per_rank:(rank + 1) * per_rank] for k, v in batch.items()}
    return data_utils.to_torch(batch, self.device)

  def _build_input_queue(self, data_rng, split: str, data_dir: str, global_batch_size: int,
                         cache: Optional[bool] = None, repeat_final_dataset: Optional[bool] = None,
                         num_batches: Optional[int] = None, start_step: int = 0) -> Iterator[Dict[str, Any]]:
    del cache, repeat_final_dataset, num_batches
    numpy_queue = self._build_numpy_queue(data_rng, split, data_dir, global_batch_size, start_step=start_step)
    if split == 'train':
      return (self._to_device(batch) for batch in numpy_queue)
    return MappedIterable(numpy_queue, self._to_device)

  def _eval_batch(self, params, batch, model_state, rng):
    with torch.no_grad():
      metrics = self._eval_metrics(params, batch, model_state, rng)
    totals = {k: v.detach() for k, v in metrics.items()}
    rank, world = self._rank_and_world()
    if world > 1:
      for value in totals.values():
        dist.all_reduce(value)
    return {k: v.cpu().numpy() for k, v in totals.items()}

  def _eval_metrics(self, params, batch, model_state, rng) -> Dict[str, torch.Tensor]:
    raise NotImplementedError

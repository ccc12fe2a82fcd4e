"""The PyTorch side both LibriSpeech workloads share: batches as (values, paddings) pairs, init, model_fn
with the batch-norm switch, the CTC loss and the eval step (WER on the host, summed over DDP ranks)."""
import contextlib
from typing import Any, Dict, Iterator, Optional

import numpy as np
import torch
import torch.distributed as dist

from algoperf import param_utils
from algoperf import random_utils as prng
from algoperf import spec
from workloads.common.base import MappedIterable
from workloads.common.pytorch_workload import PyTorchWorkloadMixin
from workloads.librispeech_common.pytorch import layers
from workloads.librispeech_common.workload import DEFAULT_DROPOUT_RATE, group_batch


class LibriSpeechPyTorchMixin(PyTorchWorkloadMixin):
  """Put before the framework-neutral base; subclasses implement `_make_model()` (an nn.Module)."""

  def _make_model(self) -> torch.nn.Module:
    raise NotImplementedError

  def _build_input_queue(self, data_rng, split: str, data_dir: str, global_batch_size: int,
                         cache: Optional[bool] = None, repeat_final_dataset: Optional[bool] = None,
                         num_batches: Optional[int] = None, start_step: int = 0) -> Iterator[Dict[str, Any]]:
    del cache, repeat_final_dataset, num_batches
    numpy_queue = self._build_numpy_queue(data_rng, split, data_dir, global_batch_size, start_step=start_step)
    convert = lambda batch: group_batch(self._to_device(batch))
    if split == 'train':
      return (convert(batch) for batch in numpy_queue)
    return MappedIterable(numpy_queue, convert)

  def init_model_fn(self, rng: spec.RandomState) -> spec.ModelInitState:
    torch.manual_seed(prng.to_seed(rng))
    model = self._make_model()
    self._param_shapes = {k: spec.ShapeTuple(v.shape) for k, v in model.named_parameters()}
    self._param_types = param_utils.pytorch_param_types(dict(model.named_parameters()))
    return self._place_model(model), None

  def model_fn(self, params: spec.ParameterContainer, augmented_and_preprocessed_input_batch: Dict[str, Any],
               model_state: spec.ModelAuxiliaryState, mode: spec.ForwardPassMode, rng: spec.RandomState,
               update_batch_norm: bool, dropout_rate: Optional[float] = None):
    """((logits, logit_paddings), model_state); batch-norm statistics live in the module's buffers."""
    del rng  # Dropout and SpecAugment draw from torch's generator, seeded at init.
    model = params
    train = mode == spec.ForwardPassMode.TRAIN
    model.train(train)
    layers.set_batch_norm_updates(model, update_batch_norm)
    inputs, input_paddings = augmented_and_preprocessed_input_batch['inputs']
    dropout_rate = DEFAULT_DROPOUT_RATE if dropout_rate is None else dropout_rate
    context = contextlib.nullcontext if train else torch.no_grad
    with context():
      outputs = model(inputs, input_paddings, dropout_rate)
    return outputs, model_state

  def loss_fn(self, label_batch, logits_batch, mask_batch=None, label_smoothing: float = 0.0):
    """CTC; labels and logits are (values, paddings) pairs; label smoothing does not apply."""
    del label_smoothing
    (logits, logit_paddings), (targets, target_paddings) = logits_batch, label_batch
    return layers.ctc_loss(logits, logit_paddings, targets, target_paddings, mask_batch)

  def _eval_batch(self, params, batch, model_state, rng):
    with torch.no_grad():
      (logits, logit_paddings), _ = self.model_fn(params, batch, model_state, spec.ForwardPassMode.EVAL, rng,
                                                  False)
      loss = self.loss_fn(batch['targets'], (logits, logit_paddings), batch['weights'])
      # The loss's n_valid_examples is at least 1; a DDP rank whose slice of the last batch is all padding
      # must add 0 to the summed weight (the normalisation clamps the total once).
      weight = torch.sum(batch['weights'][:, None] * (1.0 - batch['targets'][1]))
    host_batch = {'targets': tuple(t.cpu().numpy() for t in batch['targets']),
                  'weights': batch['weights'].cpu().numpy()}
    metrics = self._host_metrics(loss['summed'].item(), weight.item(),
                                 logits.argmax(dim=-1).cpu().numpy(), logit_paddings.cpu().numpy(), host_batch)
    _, world = self._rank_and_world()
    if world > 1:
      totals = torch.tensor([metrics[k] for k in sorted(metrics)], dtype=torch.float64, device=self.device)
      dist.all_reduce(totals)
      metrics = dict(zip(sorted(metrics), totals.cpu().tolist()))
    return {k: np.asarray(v) for k, v in metrics.items()}

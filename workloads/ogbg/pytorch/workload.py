"""OGBG in PyTorch: the base workload and its held-out variants (activation, model size)."""
import contextlib
from typing import Any, Dict, Optional

import numpy as np
import torch
import torch.distributed as dist

from algoperf import data_utils
from algoperf import param_utils
from algoperf import random_utils as prng
from algoperf import spec
from workloads.common.pytorch_workload import PyTorchWorkloadMixin
from workloads.ogbg import input_pipeline
from workloads.ogbg import workload as ogbg
from workloads.ogbg.pytorch import losses
from workloads.ogbg.pytorch import models


class OgbgWorkload(PyTorchWorkloadMixin, ogbg.BaseOgbgWorkload):

  def _num_graph_shards(self) -> int:
    return self._rank_and_world()[1]

  def _to_device(self, batch: Dict[str, Any]) -> Dict[str, Any]:
    """Each DDP rank takes its own sub-batch (graphs cannot be sliced row-wise like arrays)."""
    rank, world = self._rank_and_world()
    if world > 1:
      batch = input_pipeline.shard(batch, rank, world)
    return {'inputs': data_utils.to_torch(batch['inputs'], self.device),
            **data_utils.to_torch({'targets': batch['targets'], 'weights': batch['weights']}, self.device)}

  def init_model_fn(self, rng: spec.RandomState) -> spec.ModelInitState:
    torch.manual_seed(prng.to_seed(rng))
    model = models.GNN(**self.model_kwargs)
    self._param_shapes = {k: spec.ShapeTuple(v.shape) for k, v in model.named_parameters()}
    self._param_types = param_utils.pytorch_param_types(dict(model.named_parameters()))
    return self._place_model(model), None

  def is_output_params(self, param_key: str) -> bool:
    return param_key.startswith('decoder.') or param_key.startswith('module.decoder.')

  def model_fn(self, params: spec.ParameterContainer, augmented_and_preprocessed_input_batch: Dict[str, Any],
               model_state: spec.ModelAuxiliaryState, mode: spec.ForwardPassMode, rng: spec.RandomState,
               update_batch_norm: bool, dropout_rate: Optional[float] = None):
    del rng, update_batch_norm
    model = params
    train = mode == spec.ForwardPassMode.TRAIN
    model.train(train)
    rate = ogbg.DEFAULT_DROPOUT_RATE if dropout_rate is None else dropout_rate
    context = contextlib.nullcontext if train else torch.no_grad
    with context():
      logits = model(augmented_and_preprocessed_input_batch['inputs'], rate)
    return logits, model_state

  def loss_fn(self, label_batch, logits_batch, mask_batch=None, label_smoothing: float = 0.0):
    return losses.sigmoid_binary_cross_entropy(label_batch, logits_batch, mask_batch, label_smoothing)

  def _eval_batch(self, params, batch, model_state, rng) -> Dict[str, np.ndarray]:
    logits, _ = self.model_fn(params, batch, model_state, spec.ForwardPassMode.EVAL, rng, False)
    out = {'logits': logits, 'targets': batch['targets'], 'weights': batch['weights']}
    _, world = self._rank_and_world()
    if world > 1:  # mAP needs every rank's graphs: gather the (equal-sized) sub-batches.
      for key, value in out.items():
        parts = [torch.empty_like(value) for _ in range(world)]
        dist.all_gather(parts, value.contiguous())
        out[key] = torch.cat(parts)
    return {k: v.detach().cpu().numpy() for k, v in out.items()}


class OgbgGeluWorkload(OgbgWorkload):
  SCALES = ogbg.GELU_SCALES


class OgbgSiluWorkload(OgbgWorkload):
  SCALES = ogbg.SILU_SCALES


class OgbgModelSizeWorkload(OgbgWorkload):
  SCALES = ogbg.MODEL_SIZE_SCALES

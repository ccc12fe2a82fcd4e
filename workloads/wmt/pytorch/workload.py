"""WMT in PyTorch: the Transformer, token cross-entropy, and beam-search BLEU."""
import contextlib
from typing import Any, Dict, Optional

import numpy as np
import torch
import torch.distributed as dist

from algoperf import param_utils
from algoperf import random_utils as prng
from algoperf import spec
from workloads.common import pytorch_losses
from workloads.common.pytorch_workload import PyTorchWorkloadMixin
from workloads.wmt import bleu
from workloads.wmt import model_config
from workloads.wmt import workload as base
from workloads.wmt.pytorch import decode
from workloads.wmt.pytorch.models import Transformer


def _unwrap(model: torch.nn.Module) -> Transformer:
  return model.module if hasattr(model, 'module') else model


class WmtWorkload(PyTorchWorkloadMixin, base.BaseWmtWorkload):

  def is_output_params(self, param_key: str) -> bool:
    return param_key in ('shared_embedding.weight', 'module.shared_embedding.weight')

  def init_model_fn(self, rng: spec.RandomState) -> spec.ModelInitState:
    torch.manual_seed(prng.to_seed(rng))
    model = Transformer(self.model_config)
    self._param_shapes = {k: spec.ShapeTuple(v.shape) for k, v in model.named_parameters()}
    self._param_types = param_utils.pytorch_param_types(dict(model.named_parameters()))
    return self._place_model(model), None

  def model_fn(self, params: spec.ParameterContainer, augmented_and_preprocessed_input_batch: Dict[str, Any],
               model_state: spec.ModelAuxiliaryState, mode: spec.ForwardPassMode, rng: spec.RandomState,
               update_batch_norm: bool, dropout_rate: Optional[float] = None):
    del rng, update_batch_norm
    batch = augmented_and_preprocessed_input_batch
    model = params
    model.train(mode == spec.ForwardPassMode.TRAIN)
    rate = model_config.DEFAULT_DROPOUT_RATE if dropout_rate is None else dropout_rate
    context = torch.no_grad if mode == spec.ForwardPassMode.EVAL else contextlib.nullcontext
    with context():
      logits = model(batch['inputs'], batch['targets'], **base.packing_kwargs(batch), dropout_rate=rate)
    return logits, model_state

  def loss_fn(self, label_batch, logits_batch, mask_batch=None, label_smoothing: float = 0.0):
    """Token cross-entropy; `per_example` is per token (B, L), counted over the mask."""
    vocab = logits_batch.shape[-1]
    flat_mask = None if mask_batch is None else mask_batch.reshape(-1)
    loss = pytorch_losses.softmax_cross_entropy(label_batch.reshape(-1), logits_batch.reshape(-1, vocab),
                                                flat_mask, label_smoothing)
    loss['per_example'] = loss['per_example'].reshape(label_batch.shape)
    return loss

  def _eval_metrics(self, params, batch, model_state, rng):
    logits, _ = self.model_fn(params, batch, model_state, spec.ForwardPassMode.EVAL, rng, False)
    weights = batch['weights']
    correct = ((logits.argmax(dim=-1) == batch['targets']).float() * weights).sum()
    loss = self.loss_fn(batch['targets'], logits, weights)['summed']
    return {'loss': loss, 'accuracy': correct, 'denominator': weights.sum()}

  @torch.no_grad()
  def predict(self, params, inputs: torch.Tensor, max_decode_len: Optional[int] = None) -> np.ndarray:
    """Beam-search translations (B, max_decode_len) of a batch of source ids."""
    max_decode_len = max_decode_len or self.max_len
    model = _unwrap(params)
    model.eval()
    beams = model_config.BEAM_SIZE
    # Encoder and cross-attention keys/values once per example; the beams share them.
    cache = model.init_cache(model.encode(inputs), inputs, max_decode_len, beams)
    out = decode.beam_search(model.decode_step, cache, inputs.shape[0], max_decode_len, beams, device=inputs.device)
    return out.cpu().numpy()

  def _eval_batch(self, params, batch, model_state, rng):
    totals = super()._eval_batch(params, batch, model_state, rng)  # Loss and accuracy, summed over ranks.
    # Translations as long as the eval rows are wide: max_len at full scale (upstream's 256), 32 at lite.
    predictions = self.predict(params, batch['inputs'], max_decode_len=batch['targets'].shape[1])
    stats = self.bleu_stats(predictions, batch['targets'].cpu().numpy(), batch['weights'].cpu().numpy())
    _, world = self._rank_and_world()
    if world > 1:
      values = torch.tensor([stats[k] for k in bleu.STAT_KEYS], dtype=torch.float64, device=self.device)
      dist.all_reduce(values)
      stats = dict(zip(bleu.STAT_KEYS, values.cpu().tolist()))
    totals.update(stats)
    return totals


class WmtWorkloadPostLN(base.PostLNVariant, WmtWorkload):
  pass


class WmtWorkloadAttentionTemp(base.AttentionTempVariant, WmtWorkload):
  pass


class WmtWorkloadGLUTanH(base.GluTanhVariant, WmtWorkload):
  pass

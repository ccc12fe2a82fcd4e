"""WMT in JAX/Flax: the Transformer, token cross-entropy, and beam-search BLEU."""
import functools
from typing import Any, Dict, Optional

import jax
import jax.numpy as jnp
import numpy as np

from algoperf import jax_sharding_utils
from algoperf import param_utils
from algoperf import spec
from workloads.common import jax_losses
from workloads.common.jax_workload import JaxWorkloadMixin
from workloads.common.untimed_jit import untimed_jit
from workloads.wmt import model_config
from workloads.wmt import workload as base
from workloads.wmt.jax import decode
from workloads.wmt.jax import models
from workloads.wmt.jax.models import Transformer


class WmtWorkload(JaxWorkloadMixin, base.BaseWmtWorkload):

  def is_output_params(self, param_key: str) -> bool:
    return param_key == 'shared_embedding'

  def _model(self, dropout_rate: float = model_config.DEFAULT_DROPOUT_RATE, decode_mode: bool = False) -> Transformer:
    return Transformer(self.model_config, dropout_rate=dropout_rate, decode=decode_mode)

  def init_model_fn(self, rng: spec.RandomState) -> spec.ModelInitState:
    tokens = jnp.zeros((2, self.max_len), jnp.int32)
    # Jitted: eager initialisation would compile every operation of the model on its own.
    init = untimed_jit(lambda key: self._model().init({'params': key}, tokens, tokens, train=False)['params'])
    params = jax.tree.map(jnp.asarray, dict(init(rng)))
    self._param_shapes = jax.tree.map(lambda x: spec.ShapeTuple(x.shape), params)
    self._param_types = param_utils.jax_param_types(self._param_shapes)
    return jax_sharding_utils.replicate(params), None

  def model_fn(self, params: spec.ParameterContainer, augmented_and_preprocessed_input_batch: Dict[str, Any],
               model_state: spec.ModelAuxiliaryState, mode: spec.ForwardPassMode, rng: spec.RandomState,
               update_batch_norm: bool, dropout_rate: Optional[float] = None):
    del update_batch_norm
    batch = augmented_and_preprocessed_input_batch
    train = mode == spec.ForwardPassMode.TRAIN
    rate = model_config.DEFAULT_DROPOUT_RATE if dropout_rate is None else dropout_rate
    logits = self._model(rate).apply({'params': params}, batch['inputs'], batch['targets'],
                                     **base.packing_kwargs(batch), train=train,
                                     rngs={'dropout': rng} if train and rate > 0 else {})
    return logits, model_state

  def loss_fn(self, label_batch, logits_batch, mask_batch=None, label_smoothing: float = 0.0):
    """Token cross-entropy; `per_example` is per token (B, L), counted over the mask."""
    return jax_losses.softmax_cross_entropy(label_batch, logits_batch, mask_batch, label_smoothing)

  def _eval_metrics(self, params, batch, model_state, rng):
    logits, _ = self.model_fn(params, batch, model_state, spec.ForwardPassMode.EVAL, rng, False)
    weights = batch['weights']
    correct = (jnp.argmax(logits, axis=-1) == batch['targets']) * weights
    loss = self.loss_fn(batch['targets'], logits, weights)['summed']
    return {'loss': loss, 'accuracy': correct.sum(), 'denominator': weights.sum()}

  def predict(self, params, inputs, max_decode_len: Optional[int] = None) -> np.ndarray:
    """Beam-search translations (B, max_decode_len) of a batch of source ids."""
    max_decode_len = max_decode_len or self.max_len
    if getattr(self, '_jitted_predict_len', None) != max_decode_len:
      self._jitted_predict = untimed_jit(functools.partial(self._predict, max_decode_len=max_decode_len))
      self._jitted_predict_len = max_decode_len
    return np.asarray(self._jitted_predict(params, inputs))

  def _predict(self, params, inputs, max_decode_len: int):
    beams = model_config.BEAM_SIZE
    model = self._model(0.0)
    decoder = self._model(0.0, decode_mode=True)
    encoded = model.apply({'params': params}, inputs, method=Transformer.encode)
    # Cross-attention keys/values once per example, not per beam and step (the decoder's largest cost).
    memory = models.cross_attention_memory(params, encoded, self.model_config)
    targets = jnp.zeros((inputs.shape[0] * beams, max_decode_len), jnp.int32)
    cache_shapes = jax.eval_shape(lambda: decoder.init(jax.random.PRNGKey(0), memory, inputs, targets,
                                                       method=Transformer.decode_targets)['cache'])
    cache = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), cache_shapes)

    def step(ids, cache):
      logits, variables = decoder.apply({'params': params, 'cache': cache}, memory, inputs, ids,
                                        method=Transformer.decode_targets, mutable=['cache'])
      return logits[:, 0], variables['cache']

    return decode.beam_search(step, cache, inputs.shape[0], max_decode_len, beams)

  def _eval_batch(self, params, batch, model_state, rng):
    totals = {k: np.asarray(v) for k, v in super()._eval_batch(params, batch, model_state, rng).items()}
    # Translations as long as the eval rows are wide: max_len at full scale (upstream's 256), 32 at lite.
    predictions = self.predict(params, batch['inputs'], max_decode_len=batch['targets'].shape[1])
    totals.update(self.bleu_stats(predictions, np.asarray(batch['targets']), np.asarray(batch['weights'])))
    return totals


class WmtWorkloadPostLN(base.PostLNVariant, WmtWorkload):
  pass


class WmtWorkloadAttentionTemp(base.AttentionTempVariant, WmtWorkload):
  pass


class WmtWorkloadGLUTanH(base.GluTanhVariant, WmtWorkload):
  pass

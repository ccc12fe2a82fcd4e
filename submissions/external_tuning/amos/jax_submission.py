"""Amos (JAX), submissions.md §2.7; Tian & Parikh 2022 (arXiv 2210.11693).

optax.clip_by_global_norm(1.0), then Amos in style "adam" (points 2-5: Adam-normalised direction with an
un-bias-corrected first moment and an adaptive per-variable b) or "reduced" (point 1: second moment and b
reduced per variable, momentum applied last); updates are added to the parameters. The per-variable
type, expected scale eta (eta_overrides replaces it for weights, biases and embeddings), reduced shape,
k and tau, and the global rate xi with its linear warmup over warmup * step_hint updates are in
submissions/common/amos_rules.py. No other weight decay or learning-rate schedule. By default every
float32 variable whose reduced shape is one value steps on the fused kernels in two passes (amos_sums:
clip, moments and the per-variable sums; amos_step: the update, with the per-variable scalars computed in
between); per-row embeddings and per-head attention kernels, and everything with ALGOPERF_KERNELS=off, take
the plain jax.numpy path (the same math).
"""
from typing import Any, Dict, Optional

from algoperf import spec
from submissions.common import api
from submissions.common import baseline_batch_sizes
from submissions.common import jax_optimizers
from submissions.common import jax_train
from submissions.external_tuning.amos import hparams

prepare_for_eval = api.prepare_for_eval
data_selection = api.data_selection


def get_batch_size(workload_name: str) -> int:
  return baseline_batch_sizes.get_batch_size(workload_name)


def init_optimizer_state(workload: spec.Workload, model_params: spec.ParameterContainer,
                         model_state: spec.ModelAuxiliaryState, hyperparameters: spec.Hyperparameters,
                         rng: spec.RandomState) -> spec.OptimizerState:
  del model_state, rng
  hparams.check(hyperparameters)
  optimizer = jax_optimizers.amos(model_params, **hparams.optimizer_args(hyperparameters, workload.step_hint))
  return jax_train.init_state(workload, model_params, optimizer,
                              label_smoothing=api.hparam(hyperparameters, 'label_smoothing', 0.0),
                              dropout_rate=api.hparam(hyperparameters, 'dropout_rate'))


def update_params(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                  current_params_types: spec.ParameterTypeTree, model_state: spec.ModelAuxiliaryState,
                  hyperparameters: spec.Hyperparameters, batch: Dict[str, spec.Tensor], loss_type: spec.LossType,
                  optimizer_state: spec.OptimizerState, eval_results, global_step: int,
                  rng: spec.RandomState, train_state: Optional[Dict[str, Any]] = None) -> spec.UpdateReturn:
  del current_params_types, hyperparameters, loss_type, eval_results, train_state
  return jax_train.update(workload, current_param_container, model_state, batch, optimizer_state, global_step,
                          rng)

"""Generalized Adam (JAX), submissions.md §2.3.

`disable_preconditioning` picks the update: false (points 2-5) is the NAdamW of §0 with b1 = beta1,
b2 = beta2, eps 1e-8; true (point 1) is heavy-ball Nesterov momentum without dampening
(optax.trace(beta1, nesterov=True)): b = g + beta1 b, d = g + beta1 b; beta2 unused. Both then add
weight_decay * p (every parameter) and scale by -lr(c), the (S-optax) schedule with
T = int(cosine_decay_fraction * step_hint), W = int(warmup_steps_fraction * T), 0 after T.
Departure: nesterov=false (no published point) is rejected instead of run with upstream's
un-bias-corrected first moment. No gradient clipping (upstream's path needs an absent grad_clip).
Both updates run on the fused kernels (ALGOPERF_KERNELS=off: plain jax.numpy).
"""
from typing import Any, Dict, Optional

from algoperf import spec
from submissions.common import api
from submissions.common import baseline_batch_sizes
from submissions.common import jax_optimizers
from submissions.common import jax_train
from submissions.common import schedules
from submissions.external_tuning.generalized_adam import hparams

prepare_for_eval = api.prepare_for_eval
data_selection = api.data_selection


def get_batch_size(workload_name: str) -> int:
  return baseline_batch_sizes.get_batch_size(workload_name)


def init_optimizer_state(workload: spec.Workload, model_params: spec.ParameterContainer,
                         model_state: spec.ModelAuxiliaryState, hyperparameters: spec.Hyperparameters,
                         rng: spec.RandomState) -> spec.OptimizerState:
  del model_state, rng
  hparams.check(hyperparameters)
  warmup, total = hparams.horizon(hyperparameters, workload.step_hint)
  schedule = schedules.warmup_cosine_jax(hyperparameters.learning_rate, warmup, total)
  if hyperparameters.disable_preconditioning:
    optimizer = jax_optimizers.nesterov_sgd(schedule, momentum=hyperparameters.beta1,
                                            weight_decay=hyperparameters.weight_decay)
  else:
    optimizer = jax_optimizers.nadamw(schedule, b1=hyperparameters.beta1, b2=hyperparameters.beta2, eps=1e-8,
                                      weight_decay=hyperparameters.weight_decay)
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

"""Generalized Adam (PyTorch twin of the JAX submission; upstream has JAX only), submissions.md §2.3.

Same updates and (S-optax) schedule as jax_submission.py (see there): NAdamW when
disable_preconditioning is false, Nesterov heavy ball without dampening plus decoupled weight decay when
true. Both run on the fused kernels (ALGOPERF_KERNELS=off: plain torch).
"""
from typing import Any, Dict, Optional

from algoperf import spec
from submissions.common import api
from submissions.common import baseline_batch_sizes
from submissions.common import pytorch_optimizers
from submissions.common import pytorch_train
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
  if hyperparameters.disable_preconditioning:
    optimizer = pytorch_optimizers.nesterov_sgd(model_params.parameters(), lr=hyperparameters.learning_rate,
                                                momentum=hyperparameters.beta1,
                                                weight_decay=hyperparameters.weight_decay)
  else:
    optimizer = pytorch_optimizers.nadamw(model_params.parameters(), lr=hyperparameters.learning_rate,
                                          betas=(hyperparameters.beta1, hyperparameters.beta2), eps=1e-8,
                                          weight_decay=hyperparameters.weight_decay)
  scheduler = pytorch_optimizers.lambda_scheduler(
      optimizer, lambda count: schedules.warmup_cosine(count, 1.0, warmup, total))
  return {'optimizer': optimizer, 'scheduler': scheduler}


def update_params(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                  current_params_types: spec.ParameterTypeTree, model_state: spec.ModelAuxiliaryState,
                  hyperparameters: spec.Hyperparameters, batch: Dict[str, spec.Tensor], loss_type: spec.LossType,
                  optimizer_state: spec.OptimizerState, eval_results, global_step: int,
                  rng: spec.RandomState, train_state: Optional[Dict[str, Any]] = None) -> spec.UpdateReturn:
  del current_params_types, loss_type, eval_results, train_state
  return pytorch_train.update(workload, current_param_container, model_state, batch, optimizer_state,
                              global_step, rng, label_smoothing=api.hparam(hyperparameters, 'label_smoothing', 0.0),
                              dropout_rate=api.hparam(hyperparameters, 'dropout_rate'))

"""Amos (PyTorch twin of the JAX submission; upstream has JAX only), submissions.md §2.7.

Same clip, styles and rules as jax_submission.py (see there). Variables are typed from their PyTorch
names with the same substring rules, and shapes are read in the Flax layout (Linear (out, in) as
(in, out)), so the MNIST twins get the same eta and k. Departure: PyTorch attention weights have no head
axis, so they get one b per variable instead of one per head. The fused kernels run by default as in the JAX
file (ALGOPERF_KERNELS=off: the plain torch path).
"""
from typing import Any, Dict, Optional

from algoperf import spec
from submissions.common import api
from submissions.common import baseline_batch_sizes
from submissions.common import pytorch_optimizers
from submissions.common import pytorch_train
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
  optimizer = pytorch_optimizers.Amos(model_params.named_parameters(),
                                      **hparams.optimizer_args(hyperparameters, workload.step_hint))
  return {'optimizer': optimizer}


def update_params(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                  current_params_types: spec.ParameterTypeTree, model_state: spec.ModelAuxiliaryState,
                  hyperparameters: spec.Hyperparameters, batch: Dict[str, spec.Tensor], loss_type: spec.LossType,
                  optimizer_state: spec.OptimizerState, eval_results, global_step: int,
                  rng: spec.RandomState, train_state: Optional[Dict[str, Any]] = None) -> spec.UpdateReturn:
  del current_params_types, loss_type, eval_results, train_state
  return pytorch_train.update(workload, current_param_container, model_state, batch, optimizer_state,
                              global_step, rng, label_smoothing=api.hparam(hyperparameters, 'label_smoothing', 0.0),
                              dropout_rate=api.hparam(hyperparameters, 'dropout_rate'))

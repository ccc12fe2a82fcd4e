"""CASPR Adaptive (PyTorch twin of the published JAX submission; submissions.md §2.8).

The optimizer is submissions/common/torch_caspr.py (weights seen in Flax's layout, so that the twins agree;
under DDP each rank computes the statistics and roots of its share of the blocks); the schedule is the
published nested warmup-cosine as a LambdaLR of submissions/common/precond_schedules.py.
"""
import functools
from typing import Any, Dict, Iterator, List, Optional, Tuple

import torch

from algoperf import spec
from submissions.common import kernel_switch
from submissions.common import precond_config
from submissions.common import precond_schedules
from submissions.common import pytorch_nadamw
from submissions.common import shampoo_blocks
from submissions.common import torch_caspr


def get_batch_size(workload_name: str) -> int:
  return precond_config.caspr_batch_size(workload_name)


def init_optimizer_state(workload: spec.Workload, model_params: spec.ParameterContainer,
                         model_state: spec.ModelAuxiliaryState, hyperparameters: spec.Hyperparameters,
                         rng: spec.RandomState) -> spec.OptimizerState:
  del model_state, rng
  config = precond_config.caspr_config(hyperparameters)
  optimizer = torch_caspr.Caspr(shampoo_blocks.torch_named_kinds(model_params), config,
                                use_kernels=kernel_switch.kernels_enabled(),
                                rules_shape_fn=functools.partial(shampoo_blocks.full_scale_shape, workload))
  scheduler = torch.optim.lr_scheduler.LambdaLR(
      optimizer, lambda count: precond_schedules.caspr_lr(count, 1.0, config.warmup_factor, workload.step_hint))
  return {'optimizer': optimizer, 'scheduler': scheduler}


def update_params(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                  current_params_types: spec.ParameterTypeTree, model_state: spec.ModelAuxiliaryState,
                  hyperparameters: spec.Hyperparameters, batch: Dict[str, spec.Tensor], loss_type: spec.LossType,
                  optimizer_state: spec.OptimizerState, eval_results: List[Tuple[int, float]], global_step: int,
                  rng: spec.RandomState, train_state: Optional[Dict[str, Any]] = None) -> spec.UpdateReturn:
  del current_params_types, loss_type, eval_results, train_state
  loss, grad_norm, new_model_state = pytorch_nadamw.train_step(
      workload, current_param_container, model_state, batch, optimizer_state['optimizer'], rng,
      label_smoothing=getattr(hyperparameters, 'label_smoothing', 0.0),
      dropout_rate=getattr(hyperparameters, 'dropout_rate', None), grad_clip=None,
      compute_grad_norm=pytorch_nadamw.logs_at(workload, global_step))  # The norm is only logged.
  optimizer_state['optimizer'].step()
  optimizer_state['scheduler'].step()
  pytorch_nadamw.log_every(workload, global_step, loss, grad_norm)
  return optimizer_state, current_param_container, new_model_state


def prepare_for_eval(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                     current_params_types: spec.ParameterTypeTree, model_state: spec.ModelAuxiliaryState,
                     hyperparameters: spec.Hyperparameters, loss_type: spec.LossType,
                     optimizer_state: spec.OptimizerState, eval_results: List[Tuple[int, float]],
                     global_step: int, rng: spec.RandomState) -> spec.UpdateReturn:
  del workload, current_params_types, hyperparameters, loss_type, eval_results, global_step, rng
  return optimizer_state, current_param_container, model_state


def data_selection(workload: spec.Workload, input_queue: Iterator[Dict[str, spec.Tensor]],
                   optimizer_state: spec.OptimizerState, current_param_container: spec.ParameterContainer,
                   model_state: spec.ModelAuxiliaryState, hyperparameters: spec.Hyperparameters,
                   global_step: int, rng: spec.RandomState) -> Dict[str, spec.Tensor]:
  del workload, optimizer_state, current_param_container, model_state, hyperparameters, global_step, rng
  return next(input_queue)

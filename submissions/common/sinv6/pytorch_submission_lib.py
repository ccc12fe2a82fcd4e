"""The Sinv6 submission's functions in PyTorch; sinv6/ and sinv6_75/ differ only in num_steps_fraction.

The forward/backward is the shared pytorch_nadamw.train_step (mean loss over the global batch, all-reduced
under DDP, so every rank's scheduler sees the same loss); no label smoothing, no clipping of the gradient
norm, dropout at the workload's default (spec §3.4). The element-wise part runs on the fused kernels unless
ALGOPERF_KERNELS=off (read when the optimizer is built).
"""
from typing import Dict, Iterator

from algoperf import spec
from submissions.common import pytorch_nadamw
from submissions.common.sinv6 import api
from submissions.common.sinv6 import torch_sinv6

get_batch_size = api.get_batch_size


def init_optimizer_state(workload: spec.Workload, model_params: spec.ParameterContainer,
                         num_steps_fraction: float) -> spec.OptimizerState:
  optimizer = torch_sinv6.Sinv6(model_params.parameters(), api.load_weights(),
                                api.horizon(workload, num_steps_fraction))
  return {'optimizer': optimizer}


def update_params(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                  model_state: spec.ModelAuxiliaryState, batch: Dict[str, spec.Tensor],
                  optimizer_state: spec.OptimizerState, global_step: int,
                  rng: spec.RandomState) -> spec.UpdateReturn:
  optimizer = optimizer_state['optimizer']
  loss, _, new_model_state = pytorch_nadamw.train_step(
      workload, current_param_container, model_state, batch, optimizer, rng, label_smoothing=0.0,
      dropout_rate=None, grad_clip=None)
  lr_mult = optimizer.step(loss)
  api.log_every(workload, global_step, loss, lr_mult)
  return optimizer_state, current_param_container, new_model_state


def data_selection(input_queue: Iterator[Dict[str, spec.Tensor]]) -> Dict[str, spec.Tensor]:
  return next(input_queue)

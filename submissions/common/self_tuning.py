"""Turning an external-tuning submission into a self-tuning one with built-in hyperparameters.

Self-tuning submissions receive `hyperparameters=None` from the runner; these wrappers pass a fixed point
to the external submission's functions instead.
"""
import collections
from types import ModuleType
from typing import Any, Callable, Dict, Tuple


def with_fixed_hyperparameters(external: ModuleType, hparams: Dict[str, Any]) -> Tuple[Callable, ...]:
  """(get_batch_size, init_optimizer_state, update_params, prepare_for_eval, data_selection)."""
  fixed = collections.namedtuple('Hyperparameters', sorted(hparams))(**hparams)

  def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    del hyperparameters
    return external.init_optimizer_state(workload, model_params, model_state, fixed, rng)

  def update_params(workload, current_param_container, current_params_types, model_state, hyperparameters,
                    batch, loss_type, optimizer_state, eval_results, global_step, rng, train_state=None):
    del hyperparameters
    return external.update_params(workload, current_param_container, current_params_types, model_state, fixed,
                                  batch, loss_type, optimizer_state, eval_results, global_step, rng, train_state)

  def prepare_for_eval(workload, current_param_container, current_params_types, model_state, hyperparameters,
                       loss_type, optimizer_state, eval_results, global_step, rng):
    del hyperparameters
    return external.prepare_for_eval(workload, current_param_container, current_params_types, model_state,
                                     fixed, loss_type, optimizer_state, eval_results, global_step, rng)

  return external.get_batch_size, init_optimizer_state, update_params, prepare_for_eval, external.data_selection

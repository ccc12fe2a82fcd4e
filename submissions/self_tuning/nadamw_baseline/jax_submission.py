"""The self-tuning NAdamW baseline (jax): the external baseline with its point 5 built in.

Self-tuning submissions get no hyperparameters (the runner passes None), so these are fixed here:
spec/harness.md §5.1, dropout 0.1 and no label smoothing.
"""
import collections

from submissions.external_tuning.nadamw_baseline import jax_submission as external

HPARAMS = {
    'dropout_rate': 0.1,
    'label_smoothing': 0.0,
    'learning_rate': 0.0017486387539278373,
    'one_minus_beta1': 0.06733926164,
    'beta2': 0.9955159689799007,
    'weight_decay': 0.08121616522670176,
    'warmup_factor': 0.02,
}
_HYPERPARAMETERS = collections.namedtuple('Hyperparameters', sorted(HPARAMS))(**HPARAMS)

get_batch_size = external.get_batch_size
data_selection = external.data_selection


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
  del hyperparameters
  return external.init_optimizer_state(workload, model_params, model_state, _HYPERPARAMETERS, rng)


def update_params(workload, current_param_container, current_params_types, model_state, hyperparameters, batch,
                  loss_type, optimizer_state, eval_results, global_step, rng, train_state=None):
  del hyperparameters
  return external.update_params(workload, current_param_container, current_params_types, model_state,
                                _HYPERPARAMETERS, batch, loss_type, optimizer_state, eval_results, global_step,
                                rng, train_state)


def prepare_for_eval(workload, current_param_container, current_params_types, model_state, hyperparameters,
                     loss_type, optimizer_state, eval_results, global_step, rng):
  del hyperparameters
  return external.prepare_for_eval(workload, current_param_container, current_params_types, model_state,
                                   _HYPERPARAMETERS, loss_type, optimizer_state, eval_results, global_step, rng)

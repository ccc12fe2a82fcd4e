"""The self-tuning NAdamW baseline (jax): the external baseline with its point 5 built in.

spec/harness.md §5.1: dropout 0.1, no label smoothing.
"""
from submissions.common import self_tuning
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

(get_batch_size, init_optimizer_state, update_params, prepare_for_eval,
 data_selection) = self_tuning.with_fixed_hyperparameters(external, HPARAMS)

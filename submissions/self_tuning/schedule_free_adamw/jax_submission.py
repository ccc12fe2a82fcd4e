"""Schedule-Free AdamW (jax), self-tuning: submissions.md §3.1, the external submission with fixed hyperparameters.

lr 0.0025, beta1 0.9, beta2 0.9955159689799007, weight decay 0.08121616522670176, warmup int(0.02 * 0.75 *
step_hint) (1.5% of step_hint), label smoothing 0.2; dropout stays at the workload default (the published
'dropout_rate': 0.1 was never read). Forms and the v0.5/v0.6 differences: the external submission's docstring.
Not reproduced: the published divergence reset (restart from x0 with lr/2 when the run is no better than its
first eval), which never fires on a run that learns.
"""
from submissions.common import self_tuning
from submissions.external_tuning.schedule_free_adamw import jax_submission as external

HPARAMS = {
    'learning_rate': 0.0025,
    'one_minus_beta1': 0.1,
    'beta2': 0.9955159689799007,
    'weight_decay': 0.08121616522670176,
    'warmup_factor': 0.02 * 0.75,
    'label_smoothing': 0.2,
}

(get_batch_size, init_optimizer_state, update_params, prepare_for_eval,
 data_selection) = self_tuning.with_fixed_hyperparameters(external, HPARAMS)

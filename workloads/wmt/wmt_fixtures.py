"""What the WMT tests share: the smoke data folder and twin models with the same (mapped) weights."""
import os

import numpy as np

# The genrule's output in Bazel; ALGOPERF_WMT_SMOKE_DATA points elsewhere when running pytest by hand.
DATA_DIR = os.environ.get('ALGOPERF_WMT_SMOKE_DATA', os.path.join(os.path.dirname(__file__), 'smoke'))
KEYS = ('wmt', 'wmt_post_ln', 'wmt_attention_temp', 'wmt_glu_tanh')


def one_thread() -> None:
  """Smoke models are tiny: on a shared 2-core machine, intra-op threads only wait for each other."""
  import torch  # pylint: disable=import-outside-toplevel
  torch.set_num_threads(1)


def workloads(key: str = 'wmt', scale: str = 'smoke'):
  from workloads import registry  # pylint: disable=import-outside-toplevel
  return (registry.import_workload(key, 'jax', scale=scale), registry.import_workload(key, 'pytorch', scale=scale))


def mapped_models(key: str = 'wmt', seed: int = 0):
  """(jax workload, torch workload, Flax params, torch model): the torch init mapped onto the Flax tree."""
  import jax  # pylint: disable=import-outside-toplevel
  from algoperf import random_utils as prng  # pylint: disable=import-outside-toplevel
  from workloads.wmt import weight_mapping  # pylint: disable=import-outside-toplevel
  jax_workload, torch_workload = workloads(key)
  prng.set_framework('pytorch')
  model, _ = torch_workload.init_model_fn(prng.PRNGKey(seed))
  prng.set_framework('jax')
  state = {name: value.detach().cpu().numpy() for name, value in model.state_dict().items()}
  params = jax.tree.map(np.asarray, weight_mapping.torch_to_flax(state, jax_workload.model_config))
  return jax_workload, torch_workload, params, model

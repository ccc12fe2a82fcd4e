"""The registry: upstream's 35 workload keys, each mapped to its package and class name.

`import_workload('imagenet_vit_glu', 'jax')` imports `workloads.imagenet_vit.jax.workload` and builds
`ImagenetVitGluWorkload` at the requested scale. Class names are the same in both frameworks.
"""
import dataclasses
import importlib
from typing import Any, Dict, List

from algoperf import rules

FRAMEWORKS = ('jax', 'pytorch')


@dataclasses.dataclass(frozen=True)
class WorkloadEntry:
  package: str  # The folder under workloads/.
  class_name: str


WORKLOADS: Dict[str, WorkloadEntry] = {
    'mnist': WorkloadEntry('mnist', 'MnistWorkload'),
    'cifar': WorkloadEntry('cifar', 'CifarWorkload'),
    'criteo1tb': WorkloadEntry('criteo1tb', 'Criteo1TbDlrmSmallWorkload'),
    'criteo1tb_test': WorkloadEntry('criteo1tb', 'Criteo1TbDlrmSmallTestWorkload'),
    'criteo1tb_layernorm': WorkloadEntry('criteo1tb', 'Criteo1TbDlrmSmallLayerNormWorkload'),
    'criteo1tb_resnet': WorkloadEntry('criteo1tb', 'Criteo1TbDlrmSmallResNetWorkload'),
    'criteo1tb_embed_init': WorkloadEntry('criteo1tb', 'Criteo1TbDlrmSmallEmbedInitWorkload'),
    'fastmri': WorkloadEntry('fastmri', 'FastMRIWorkload'),
    'fastmri_model_size': WorkloadEntry('fastmri', 'FastMRIModelSizeWorkload'),
    'fastmri_tanh': WorkloadEntry('fastmri', 'FastMRITanhWorkload'),
    'fastmri_layernorm': WorkloadEntry('fastmri', 'FastMRILayerNormWorkload'),
    'imagenet_resnet': WorkloadEntry('imagenet_resnet', 'ImagenetResNetWorkload'),
    'imagenet_resnet_silu': WorkloadEntry('imagenet_resnet', 'ImagenetResNetSiLUWorkload'),
    'imagenet_resnet_gelu': WorkloadEntry('imagenet_resnet', 'ImagenetResNetGELUWorkload'),
    'imagenet_resnet_large_bn_init': WorkloadEntry('imagenet_resnet', 'ImagenetResNetLargeBNScaleWorkload'),
    'imagenet_vit': WorkloadEntry('imagenet_vit', 'ImagenetVitWorkload'),
    'imagenet_vit_glu': WorkloadEntry('imagenet_vit', 'ImagenetVitGluWorkload'),
    'imagenet_vit_post_ln': WorkloadEntry('imagenet_vit', 'ImagenetVitPostLNWorkload'),
    'imagenet_vit_map': WorkloadEntry('imagenet_vit', 'ImagenetVitMapWorkload'),
    'librispeech_conformer': WorkloadEntry('librispeech_conformer', 'LibriSpeechConformerWorkload'),
    'librispeech_conformer_attention_temperature': WorkloadEntry('librispeech_conformer', 'LibriSpeechConformerAttentionTemperatureWorkload'),
    'librispeech_conformer_layernorm': WorkloadEntry('librispeech_conformer', 'LibriSpeechConformerLayerNormWorkload'),
    'librispeech_conformer_gelu': WorkloadEntry('librispeech_conformer', 'LibriSpeechConformerGeluWorkload'),
    'librispeech_deepspeech': WorkloadEntry('librispeech_deepspeech', 'LibriSpeechDeepSpeechWorkload'),
    'librispeech_deepspeech_tanh': WorkloadEntry('librispeech_deepspeech', 'LibriSpeechDeepSpeechTanhWorkload'),
    'librispeech_deepspeech_no_resnet': WorkloadEntry('librispeech_deepspeech', 'LibriSpeechDeepSpeechNoResNetWorkload'),
    'librispeech_deepspeech_norm_and_spec_aug': WorkloadEntry('librispeech_deepspeech', 'LibriSpeechDeepSpeechNormAndSpecAugWorkload'),
    'ogbg': WorkloadEntry('ogbg', 'OgbgWorkload'),
    'ogbg_gelu': WorkloadEntry('ogbg', 'OgbgGeluWorkload'),
    'ogbg_silu': WorkloadEntry('ogbg', 'OgbgSiluWorkload'),
    'ogbg_model_size': WorkloadEntry('ogbg', 'OgbgModelSizeWorkload'),
    'wmt': WorkloadEntry('wmt', 'WmtWorkload'),
    'wmt_post_ln': WorkloadEntry('wmt', 'WmtWorkloadPostLN'),
    'wmt_attention_temp': WorkloadEntry('wmt', 'WmtWorkloadAttentionTemp'),
    'wmt_glu_tanh': WorkloadEntry('wmt', 'WmtWorkloadGLUTanH'),
}

# The dataset (tools/datasets/<name>.py) of each workload folder whose data is shared with another folder;
# every other folder's dataset has the folder's name.
SHARED_DATASETS: Dict[str, str] = {
    'imagenet_resnet': 'imagenet', 'imagenet_vit': 'imagenet',
    'librispeech_conformer': 'librispeech', 'librispeech_deepspeech': 'librispeech',
}

BASE_WORKLOADS: List[str] = [
    'criteo1tb', 'fastmri', 'imagenet_resnet', 'imagenet_vit', 'librispeech_conformer',
    'librispeech_deepspeech', 'ogbg', 'wmt',
]
# The held-out variants drawn for the v0.5 competition, one per dataset (the rules' list: algoperf/rules.py).
HELD_OUT_WORKLOADS_V05: List[str] = list(rules.HELD_OUT_V05.values())


def get_base_workload_name(workload_name: str) -> str:
  """'imagenet_resnet_silu' -> 'imagenet_resnet' (the longest base name it starts with)."""
  candidates = [base for base in BASE_WORKLOADS + ['mnist', 'cifar'] if workload_name.startswith(base)]
  if not candidates:
    raise ValueError(f'{workload_name!r} is not a registered workload; known: {", ".join(sorted(WORKLOADS))}.')
  return max(candidates, key=len)


def dataset_of(workload_name: str) -> str:
  """The dataset a registered workload reads: 'imagenet_vit_glu' -> 'imagenet'."""
  if workload_name not in WORKLOADS:
    raise ValueError(f'Unknown workload {workload_name!r}; choose one of: {", ".join(sorted(WORKLOADS))}.')
  package = WORKLOADS[workload_name].package
  return SHARED_DATASETS.get(package, package)


def workload_class(workload_name: str, framework: str):
  """The class of a registered workload in one framework."""
  if workload_name not in WORKLOADS:
    raise ValueError(f'Unknown workload {workload_name!r}; choose one of: {", ".join(sorted(WORKLOADS))}.')
  if framework not in FRAMEWORKS:
    raise ValueError(f'Unknown framework {framework!r}; use "jax" or "pytorch".')
  entry = WORKLOADS[workload_name]
  module_name = f'workloads.{entry.package}.{framework}.workload'
  try:
    module = importlib.import_module(module_name)
  except ModuleNotFoundError as e:
    if e.name and e.name.startswith(f'workloads.{entry.package}'):
      raise ValueError(f'Workload {workload_name!r} is registered but not built yet ({module_name} is '
                       'missing).') from e
    raise
  return getattr(module, entry.class_name)


def import_workload(workload_name: str, framework: str, scale: str = 'full', rules_version: str = 'v0.6',
                    **kwargs: Any):
  """An instance of a registered workload at a scale, under a rules version."""
  return workload_class(workload_name, framework)(scale=scale, rules_version=rules_version, **kwargs)

"""Global batch sizes of the schedule-free and LAWA submissions (submissions.md §2.2, §2.9-2.11, §3.1).

Unknown names raise ValueError, so the runner retries with the base workload name (variants inherit it).
LAWA's table is Cyclic LR's (§2.4).
"""
from typing import Dict

SCHEDULE_FREE_ADAMW = {
    'criteo1tb': 262_144, 'fastmri': 16, 'imagenet_resnet': 1024, 'imagenet_resnet_silu': 512,
    'imagenet_resnet_gelu': 512, 'imagenet_vit': 1024, 'librispeech_conformer': 224,
    'librispeech_deepspeech': 128, 'ogbg': 512, 'wmt': 128, 'mnist': 16,
}
SCHEDULE_FREE_PRODIGY = {
    'criteo1tb': 262_144, 'fastmri': 32, 'imagenet_resnet': 1024, 'imagenet_vit': 1024,
    'librispeech_conformer': 224, 'librispeech_deepspeech': 256, 'ogbg': 512, 'wmt': 128, 'mnist': 16,
}
LAWA = {
    'criteo1tb': 262_144, 'fastmri': 32, 'imagenet_resnet': 512, 'imagenet_vit': 1024,
    'librispeech_conformer': 256, 'librispeech_deepspeech': 256, 'ogbg': 512, 'wmt': 128, 'mnist': 16,
}


def lookup(table: Dict[str, int], workload_name: str) -> int:
  if workload_name not in table:
    raise ValueError(f'Unsupported workload name: {workload_name}.')
  return table[workload_name]

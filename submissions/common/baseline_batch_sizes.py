"""The NAdamW baseline's global batch sizes (harness.md §5.1); unknown names raise ValueError."""

BATCH_SIZES = {
    'criteo1tb': 262_144,
    'fastmri': 32,
    'imagenet_resnet': 1024,
    'imagenet_resnet_silu': 512,
    'imagenet_resnet_gelu': 512,
    'imagenet_vit': 1024,
    'librispeech_conformer': 256,
    'librispeech_deepspeech': 256,
    'ogbg': 512,
    'wmt': 128,
    'mnist': 16,
    'cifar': 128,
}


def get_batch_size(workload_name: str) -> int:
  if workload_name not in BATCH_SIZES:
    raise ValueError(f'Unsupported workload name: {workload_name}.')
  return BATCH_SIZES[workload_name]


def get_batch_size_without_activation_variants(workload_name: str) -> int:
  """The baseline set without the silu/gelu entries (AdamG, Sinv6): those variants fall back to the base
  name in the runner (ResNet 1024 instead of 512)."""
  if workload_name.endswith(('_silu', '_gelu')):
    raise ValueError(f'Unsupported workload name: {workload_name}.')
  return get_batch_size(workload_name)

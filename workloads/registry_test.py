"""The registry: every upstream key resolves to a class in both frameworks and to a dataset we can build."""
import pytest

from tools import datasets
from workloads import registry


@pytest.mark.parametrize('framework', registry.FRAMEWORKS)
def test_every_key_resolves_to_its_class(framework):
  for key, entry in registry.WORKLOADS.items():
    assert registry.workload_class(key, framework).__name__ == entry.class_name, key


def test_every_key_reads_a_dataset_that_tools_make_datasets_builds():
  assert len(registry.WORKLOADS) == 35
  for key in registry.WORKLOADS:
    assert registry.dataset_of(key) in datasets.available(), key
  assert registry.dataset_of('imagenet_vit_glu') == 'imagenet'
  assert registry.dataset_of('librispeech_deepspeech_tanh') == 'librispeech'
  assert registry.dataset_of('wmt_post_ln') == 'wmt'


def test_unknown_keys_are_named():
  with pytest.raises(ValueError, match='imagenet_vitt'):
    registry.dataset_of('imagenet_vitt')
  with pytest.raises(ValueError, match='imagenet_vitt'):
    registry.workload_class('imagenet_vitt', 'jax')

"""Sharding for JAX: one 1-D device mesh, batches split on their leading dimension, the rest replicated."""
import functools

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec


@functools.lru_cache(maxsize=None)
def get_mesh() -> Mesh:
  return Mesh(jax.devices(), ('batch',))


def get_replicate_sharding() -> NamedSharding:
  return NamedSharding(get_mesh(), PartitionSpec())


def get_batch_dim_sharding() -> NamedSharding:
  return NamedSharding(get_mesh(), PartitionSpec('batch'))


def shard_along_batch_dim(x):
  return jax.device_put(x, get_batch_dim_sharding())


def replicate(x):
  return jax.device_put(x, get_replicate_sharding())


def disp_shard_info(x) -> None:
  """Prints how each leaf of a pytree is laid out over the devices (debugging aid)."""
  for path, leaf in jax.tree_util.tree_flatten_with_path(x)[0]:
    print(jax.tree_util.keystr(path), getattr(leaf, 'sharding', None))

"""ImageNet ViT-S/16 in JAX/Flax, and its held-out variants."""
from workloads.imagenet_common.jax_common import JaxImagenetMixin
from workloads.imagenet_vit import workload
from workloads.imagenet_vit.jax import models


class ImagenetVitWorkload(JaxImagenetMixin, workload.BaseImagenetVitWorkload):

  def _build_model(self):
    return models.ViT(**self.model_kwargs)


class ImagenetVitGluWorkload(workload.GluVariant, ImagenetVitWorkload):
  pass


class ImagenetVitPostLNWorkload(workload.PostLNVariant, ImagenetVitWorkload):
  pass


class ImagenetVitMapWorkload(workload.MapVariant, ImagenetVitWorkload):
  pass

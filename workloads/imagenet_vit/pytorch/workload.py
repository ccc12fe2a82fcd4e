"""ImageNet ViT-S/16 in PyTorch, and its held-out variants."""
from workloads.imagenet_common.pytorch_common import PyTorchImagenetMixin
from workloads.imagenet_vit import workload
from workloads.imagenet_vit.pytorch import models


class ImagenetVitWorkload(PyTorchImagenetMixin, workload.BaseImagenetVitWorkload):

  def _build_model(self):
    return models.ViT(**self.model_kwargs)


class ImagenetVitGluWorkload(workload.GluVariant, ImagenetVitWorkload):
  pass


class ImagenetVitPostLNWorkload(workload.PostLNVariant, ImagenetVitWorkload):
  pass


class ImagenetVitMapWorkload(workload.MapVariant, ImagenetVitWorkload):
  pass

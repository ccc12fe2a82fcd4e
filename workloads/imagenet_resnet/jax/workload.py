"""ImageNet ResNet-50 in JAX/Flax, and its held-out variants."""
from workloads.imagenet_common.jax_common import JaxImagenetMixin
from workloads.imagenet_resnet import workload
from workloads.imagenet_resnet.jax import models


class ImagenetResNetWorkload(JaxImagenetMixin, workload.BaseImagenetResNetWorkload):

  def _build_model(self):
    return models.ResNet(**self.model_kwargs)


class ImagenetResNetSiLUWorkload(workload.SiLUVariant, ImagenetResNetWorkload):
  pass


class ImagenetResNetGELUWorkload(workload.GELUVariant, ImagenetResNetWorkload):
  pass


class ImagenetResNetLargeBNScaleWorkload(workload.LargeBNScaleVariant, ImagenetResNetWorkload):
  pass

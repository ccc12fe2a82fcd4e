"""ImageNet ResNet-50 in PyTorch, and its held-out variants."""
from workloads.imagenet_common.pytorch_common import PyTorchImagenetMixin
from workloads.imagenet_resnet import workload
from workloads.imagenet_resnet.pytorch import models


class ImagenetResNetWorkload(PyTorchImagenetMixin, workload.BaseImagenetResNetWorkload):

  def _build_model(self):
    return models.ResNet(**self.model_kwargs)


class ImagenetResNetSiLUWorkload(workload.SiLUVariant, ImagenetResNetWorkload):
  pass


class ImagenetResNetGELUWorkload(workload.GELUVariant, ImagenetResNetWorkload):
  pass


class ImagenetResNetLargeBNScaleWorkload(workload.LargeBNScaleVariant, ImagenetResNetWorkload):
  pass

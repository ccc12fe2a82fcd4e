"""LibriSpeech DeepSpeech in PyTorch, with its held-out variants."""
from workloads.librispeech_common.pytorch.workload import LibriSpeechPyTorchMixin
from workloads.librispeech_deepspeech import workload
from workloads.librispeech_deepspeech.pytorch import models


class LibriSpeechDeepSpeechWorkload(LibriSpeechPyTorchMixin, workload.BaseLibriSpeechDeepSpeechWorkload):

  def _make_model(self):
    return models.DeepspeechEncoderDecoder(self.model_config())


class LibriSpeechDeepSpeechTanhWorkload(workload.TanhVariant, LibriSpeechDeepSpeechWorkload):
  pass


class LibriSpeechDeepSpeechNoResNetWorkload(workload.NoResNetVariant, LibriSpeechDeepSpeechWorkload):
  pass


class LibriSpeechDeepSpeechNormAndSpecAugWorkload(workload.NormAndSpecAugVariant, LibriSpeechDeepSpeechWorkload):
  pass

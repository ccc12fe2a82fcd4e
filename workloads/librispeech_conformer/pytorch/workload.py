"""LibriSpeech Conformer in PyTorch, with its held-out variants."""
from workloads.librispeech_common.pytorch.workload import LibriSpeechPyTorchMixin
from workloads.librispeech_conformer import workload
from workloads.librispeech_conformer.pytorch import models


class LibriSpeechConformerWorkload(LibriSpeechPyTorchMixin, workload.BaseLibriSpeechConformerWorkload):

  def _make_model(self):
    return models.ConformerEncoderDecoder(self.model_config())


class LibriSpeechConformerAttentionTemperatureWorkload(workload.AttentionTemperatureVariant,
                                                       LibriSpeechConformerWorkload):
  pass


class LibriSpeechConformerLayerNormWorkload(workload.LayerNormVariant, LibriSpeechConformerWorkload):
  pass


class LibriSpeechConformerGeluWorkload(workload.GeluVariant, LibriSpeechConformerWorkload):
  pass

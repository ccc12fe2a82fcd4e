"""LibriSpeech Conformer in JAX/Flax, with its held-out variants."""
from workloads.librispeech_common.jax.workload import LibriSpeechJaxMixin
from workloads.librispeech_conformer import workload
from workloads.librispeech_conformer.jax import models


class LibriSpeechConformerWorkload(LibriSpeechJaxMixin, workload.BaseLibriSpeechConformerWorkload):

  def _make_model(self):
    return models.Conformer(self.model_config())


class LibriSpeechConformerAttentionTemperatureWorkload(workload.AttentionTemperatureVariant,
                                                       LibriSpeechConformerWorkload):
  pass


class LibriSpeechConformerLayerNormWorkload(workload.LayerNormVariant, LibriSpeechConformerWorkload):
  pass


class LibriSpeechConformerGeluWorkload(workload.GeluVariant, LibriSpeechConformerWorkload):
  pass

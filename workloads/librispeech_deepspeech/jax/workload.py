"""LibriSpeech DeepSpeech in JAX/Flax, with its held-out variants."""
from workloads.librispeech_common.jax.workload import LibriSpeechJaxMixin
from workloads.librispeech_deepspeech import workload
from workloads.librispeech_deepspeech.jax import models


class LibriSpeechDeepSpeechWorkload(LibriSpeechJaxMixin, workload.BaseLibriSpeechDeepSpeechWorkload):

  def _make_model(self):
    return models.Deepspeech(self.model_config())


class LibriSpeechDeepSpeechTanhWorkload(workload.TanhVariant, LibriSpeechDeepSpeechWorkload):
  pass


class LibriSpeechDeepSpeechNoResNetWorkload(workload.NoResNetVariant, LibriSpeechDeepSpeechWorkload):
  pass


class LibriSpeechDeepSpeechNormAndSpecAugWorkload(workload.NormAndSpecAugVariant, LibriSpeechDeepSpeechWorkload):
  pass

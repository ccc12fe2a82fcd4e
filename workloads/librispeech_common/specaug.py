"""SpecAugment's settings (Park et al. 2019, lingvo's variant), shared by both frameworks and models.

Per example, `time_mask_count` time masks: each is min(int(u * ratio * length), max(int(ratio * length), 1))
frames long and starts at int(u' * (length - size + 1)), where length is the number of valid frames (the
"dynamic" maximum, as upstream: `time_mask_max_frames` is then unused). Then `freq_mask_count` frequency
masks of int(u * freq_mask_max_bins) bins, placed the same way over the 80 bins. Masked values become 0.
u and u' are uniform in [0, 1); the layers take them as inputs, so both frameworks build identical masks
from identical draws.
"""
import dataclasses


@dataclasses.dataclass(frozen=True)
class SpecAugConfig:
  freq_mask_count: int = 2
  freq_mask_max_bins: int = 27
  time_mask_count: int = 10
  time_mask_max_frames: int = 40  # Unused with the dynamic maximum; kept to document the published setting.
  time_mask_max_ratio: float = 0.05

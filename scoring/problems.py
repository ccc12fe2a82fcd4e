"""Bad input is reported once per incident: a warning by default, an error under --strict."""
import dataclasses
import logging

_log = logging.getLogger('scoring')

# The kinds of bad input; tests count warnings by kind.
TRUNCATED = 'truncated'    # a CSV row with missing fields or unreadable numbers
NAN = 'nan'                # NaN metric values or times
MISSING = 'missing'        # a workload, study or file that the rules expect is absent
COUNT = 'count'            # number of studies or trials differs from the rules
UNKNOWN = 'unknown'        # no target known for a workload
DUPLICATE = 'duplicate'    # the same study listed twice


class ScoringError(Exception):
  """An input that cannot be scored, or any bad input under --strict; the message names the file."""


@dataclasses.dataclass(frozen=True)
class Problem:
  kind: str
  path: str
  message: str

  def __str__(self):
    return f'{self.path}: {self.message}'


@dataclasses.dataclass
class Problems:
  """Collects warnings; with strict=True the first one raises instead."""
  strict: bool = False
  found: list = dataclasses.field(default_factory=list)

  def report(self, kind, path, message):
    problem = Problem(kind, str(path), message)
    if self.strict:
      raise ScoringError(f'{problem} (an error because of --strict)')
    _log.warning('%s', problem)
    self.found.append(problem)

  def reported(self, kind, path):
    """Whether a problem of this kind was already reported for path (to avoid a cascade)."""
    return any(p.kind == kind and p.path == str(path) for p in self.found)

  def kinds(self):
    return [p.kind for p in self.found]

  def messages(self):
    return [str(p) for p in self.found]

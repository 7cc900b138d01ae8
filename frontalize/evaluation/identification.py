"""Identification by pose: the one evaluator behind every rank-1 table of the project.

Gallery: the rows with role ``gallery``, the protocol's frontal shots under the gallery flash.  Probes: the
rows with role ``probe``.  Which gallery a probe is matched against is the protocol's rule, never guessed
from the rows: setting1 and session01 match it against the gallery of its own recording (session01 has one
per expression); setting2 against every test subject's one image from their earliest session
(``Protocol.gallery_from_earliest_session``), whatever the probe's session and recording.  A probe is a hit
when its nearest gallery embedding (cosine) is its own subject.  A probe whose subject has no image in its
gallery (real Multi-PIE has gaps) cannot be identified at all: it is left out of rank-1 and counted, with
its subject listed (``without_gallery``), never scored as a miss.

Columns: one per camera (``data.multipie.camera_column``: "-45", "0", "+45", and the raised cameras apart,
"-45↑", "+45↑"), then "all", which counts every probe once.

What is scored is a grid of *views* and *scorers*:
  views    the probe pictures as given (``raw``) and any transform of them (``frontalized`` by a
           generator, ``warp`` by the geometric frontalizer, ...), computed once per probe batch;
  scorers  recognizers, each with the views it scores: the shared recognizer (plain column names:
           ``raw``, ``frontalized``), the all-pose competitor on ``raw`` only (``raw_all_pose``), an
           independent judge (``frontalized_judge``, ...);
  fusions  the L2-normalised sum of two views' embeddings (``fused`` = raw + frontalized), per scorer.
Observers see every batch's pictures and embeddings and add their own per-probe values (image quality,
identity cosine to the target; evaluation/quality.py).  Only per-column running sums are kept, so memory
does not grow with the number of probes.

Callers: the recognizer's own table (recognition/train.py), the GAN trainer's periodic check
(training/trainer.py) and the identity report (pipeline/evaluate.py).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
import torch
from tqdm import tqdm

from frontalize.data.images import load_batch
from frontalize.data.multipie import ALL_COLUMN, camera_column, column_order
from frontalize.data.protocols import PROTOCOLS
from frontalize.geometry.pose import row_poses
from frontalize.geometry.warp import FrontalWarp

# view name -> picture transform: (probe batch in [-1, 1], the batch's manifest rows) -> pictures
ViewTransform = Callable[[torch.Tensor, list], torch.Tensor]


class Embedder(Protocol):
    def embed(self, images: torch.Tensor, flip: bool = False) -> torch.Tensor: ...


@dataclass(frozen=True)
class Scorer:
    """A recognizer and the columns it fills: ``<view>`` when ``name`` is empty, else ``<view>_<name>``."""

    name: str
    recognizer: Embedder
    views: tuple[str, ...] | None = None  # None: every view and fusion

    def column(self, view: str) -> str:
        return f"{view}_{self.name}" if self.name else view

    def scores(self, view: str) -> bool:
        return self.views is None or view in self.views


class Observer(Protocol):
    """Adds per-probe values; the names in ``counted`` are summed per column (how many probes had a target, ...),
    every other value is averaged over the probes that have it."""

    counted: tuple[str, ...]

    def __call__(self, rows: list[dict], pictures: dict[str, torch.Tensor],
                 embeddings: dict[tuple[str, str], torch.Tensor]) -> list[dict]: ...


class Tally:
    """Running values per key (a column, "all", or a (recording, column) pair).

    A value is averaged over the probes that have it (image quality exists only for probes with a target),
    a ``counted`` one is summed; ``probes`` is how many probes the key holds.
    """

    def __init__(self, counted=()):
        self.counted = frozenset(counted)
        self.n = defaultdict(int)
        self.sums = defaultdict(lambda: defaultdict(float))
        self.counts = defaultdict(lambda: defaultdict(int))

    def add(self, keys, **values) -> None:
        for key in keys:
            for k, v in values.items():
                self.sums[key][k] += float(v)
                self.counts[key][k] += 1
            self.n[key] += 1

    def table(self, keys) -> dict:
        return {k: {**{m: int(s) if m in self.counted else s / self.counts[k][m] for m, s in self.sums[k].items()},
                    "probes": self.n[k]} for k in keys}


def column_of(row: dict) -> str:
    return camera_column(row["camera"])


def rank1_hits(probe_emb: torch.Tensor, gallery_emb: torch.Tensor, gallery_ids: np.ndarray, subjects: np.ndarray) -> np.ndarray:
    """Whether each probe's nearest gallery embedding (cosine; inputs are L2-normalised) is its own subject."""
    return gallery_ids[(probe_emb @ gallery_emb.T).argmax(1).numpy()] == subjects


def fuse_embeddings(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """One embedding from two views of a probe (DESIGN's fair competitor: does frontalization add to raw?)."""
    return torch.nn.functional.normalize(a + b, dim=1)


@torch.no_grad()
def embed_rows(recognizer: Embedder, prepared: Path, rows: list[dict], size: int, device, batch: int = 32,
               flip: bool = False) -> torch.Tensor:
    """Embeddings of the rows' crops, streamed in batches."""
    out = [recognizer.embed(load_batch(prepared, [r["crop_path"] for r in rows[i : i + batch]], size, device), flip=flip).cpu()
           for i in range(0, len(rows), batch)]
    return torch.cat(out) if out else torch.zeros(0, 0)


def even_quotas(sizes: dict, total: int) -> dict:
    """``total`` picks spread over strata of the given sizes as evenly as they allow: equal shares, each capped at its
    stratum's size, what a small stratum cannot take going to the others (remainders to the strata first in key order)."""
    quota = {k: 0 for k in sizes}
    left = min(total, sum(sizes.values()))
    while left > 0:
        room = [k for k in sorted(sizes) if quota[k] < sizes[k]]
        share, extra = divmod(left, len(room))
        for i, k in enumerate(room):
            take = min(share + (i < extra), sizes[k] - quota[k])
            quota[k] += take
            left -= take
    return quota


def subsample_probes(probes: list[dict], per_column: int | None, seed: int = 0) -> list[dict]:
    """A fixed random subset of at most ``per_column`` probes per table column (all of them when None), spread evenly
    over the flashes within each column (a column's figure then weighs every light alike, as the full set does), drawn
    at random within each (column, flash) stratum: across subjects, sessions and recordings.  The same probes, seed
    and size give the same subset."""
    if per_column is None:
        return probes
    if per_column < 1:
        raise ValueError(f"a probe subsample needs at least 1 probe per column, not {per_column}")
    strata = defaultdict(lambda: defaultdict(list))
    for r in probes:
        strata[column_of(r)][int(r["flash"])].append(r)
    rng = np.random.default_rng(seed)
    out = []
    for column in sorted(strata, key=column_order):
        by_flash = strata[column]
        quota = even_quotas({flash: len(rows) for flash, rows in by_flash.items()}, per_column)
        for flash in sorted(by_flash):
            rows = by_flash[flash]
            out += [rows[i] for i in sorted(rng.choice(len(rows), quota[flash], replace=False))]
    return out


def gallery_rule(protocol: str):
    """The protocol's answer to "which gallery is this probe matched against": a key shared by a probe and its gallery."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}: {', '.join(PROTOCOLS)}")
    if PROTOCOLS[protocol].gallery_from_earliest_session:
        return lambda row: "one image per subject"  # any session, any recording: the subject's one gallery image
    return lambda row: row["recording"]  # the gallery of its own recording (expression)


@torch.no_grad()
def identify(rows: list[dict], prepared: Path, size: int, device, scorers: list[Scorer], protocol: str,
             views: dict[str, ViewTransform] | None = None, fusions: dict[str, tuple[str, str]] | None = None,
             observers: tuple[Observer, ...] = (), flip: bool = False, per_yaw: int | None = None, batch: int = 32,
             progress: bool = False, seed: int = 0) -> dict:
    """Rank-1 by column (and by recording and column) for every scorer, view and fusion.

    ``rows``: a manifest's rows (its test split's gallery and probes are used); ``protocol`` decides which
    gallery each probe is matched against; ``per_yaw``: at most this many probes per column.  Returns
    ``{"table": {column: {name: value, ..., "probes": n}, ..., "all": {...}}, "by_recording": {rec: table},
    "without_gallery": {"subjects": [...], "probes": n}}``.
    """
    views = {"raw": lambda x, _: x, **(views or {})}
    fusions = {k: v for k, v in (fusions or {}).items() if all(part in views for part in v)}
    group_of = gallery_rule(protocol)
    test = [r for r in rows if r["split"] == "test"]
    gallery = [r for r in test if r["role"] == "gallery"]
    probes = [r for r in test if r["role"] == "probe"]
    if not gallery or not probes:
        raise ValueError("no test gallery or probes in these rows")
    galleries = defaultdict(list)
    for r in gallery:
        galleries[group_of(r)].append(r)
    in_gallery = {group: {r["subject"] for r in g_rows} for group, g_rows in galleries.items()}
    orphans = [r for r in probes if r["subject"] not in in_gallery.get(group_of(r), ())]
    identifiable = [r for r in probes if r["subject"] in in_gallery.get(group_of(r), ())]
    probes = subsample_probes(identifiable, per_yaw, seed)
    if not probes:
        raise ValueError(f"no probe's subject has a gallery image ({len(orphans)} probes of "
                         f"{len({r['subject'] for r in orphans})} subjects without one)")
    tally = Tally(counted=[name for observe in observers for name in getattr(observe, "counted", ())])
    bar = tqdm(total=len(probes), unit="probe", desc="identification", disable=not progress, leave=False)
    for group, g_rows in galleries.items():
        p_rows = [r for r in probes if group_of(r) == group]
        if not p_rows:
            continue
        g_ids = np.array([r["subject"] for r in g_rows])
        g_emb = {s.name: embed_rows(s.recognizer, prepared, g_rows, size, device, flip=flip) for s in scorers}
        for i in range(0, len(p_rows), batch):
            chunk = p_rows[i : i + batch]
            x = load_batch(prepared, [r["crop_path"] for r in chunk], size, device)
            pictures = {name: fn(x, chunk) for name, fn in views.items()}
            subjects = np.array([r["subject"] for r in chunk])
            values = [{} for _ in chunk]
            embeddings = {}
            for s in scorers:
                for view, picture in pictures.items():
                    if s.scores(view):
                        embeddings[(s.name, view)] = s.recognizer.embed(picture, flip=flip).cpu()
                candidates = {view: embeddings[(s.name, view)] for view in pictures if s.scores(view)}
                for name, (a, b) in fusions.items():
                    if s.scores(name) and a in candidates and b in candidates:
                        candidates[name] = fuse_embeddings(candidates[a], candidates[b])
                for column, emb in candidates.items():
                    for v, hit in zip(values, rank1_hits(emb, g_emb[s.name], g_ids, subjects)):
                        v[s.column(column)] = hit
            for observe in observers:
                for v, extra in zip(values, observe(chunk, pictures, embeddings)):
                    v.update(extra)
            for r, v in zip(chunk, values):
                column, rec = column_of(r), r["recording"]
                tally.add((column, ALL_COLUMN, (rec, column), (rec, ALL_COLUMN)), **v)
            bar.update(len(chunk))
    bar.close()
    columns = sorted({column_of(r) for r in probes}, key=column_order)
    recordings = sorted({r["recording"] for r in probes})
    return {
        "table": tally.table(columns + [ALL_COLUMN]),
        "by_recording": {rec: {k[1]: v for k, v in tally.table([(rec, c) for c in columns if tally.n[(rec, c)]]
                                                                + [(rec, ALL_COLUMN)]).items()} for rec in recordings},
        "without_gallery": {"subjects": sorted({int(r["subject"]) for r in orphans}), "probes": len(orphans)},
        "subsample": None if per_yaw is None else {"per_column": per_yaw, "seed": seed, "scored": len(probes),
                                                   "of": len(identifiable)},
    }


# The last batch's rows, crop size and poses: the generator and the warp-only views see the same batch, and a pose
# fit (least squares per probe) costs more than either view's forward pass on the CPU.
_last_poses: list = [None, 0, None]


def _poses(rows: list[dict], x: torch.Tensor) -> torch.Tensor:
    size = x.shape[-1]
    if _last_poses[0] is not rows or _last_poses[1] != size:
        _last_poses[:] = [rows, size, torch.from_numpy(row_poses(rows, size))]
    return _last_poses[2].to(x.device)


def generator_view(generator: torch.nn.Module) -> ViewTransform:
    """The full-size output of a frontalization generator, as a view (with the probes' poses where it warps)."""
    if getattr(generator, "warp", None) is None:
        return lambda x, rows: generator(x)[-1]
    return lambda x, rows: generator(x, _poses(rows, x))[-1]


def warp_view(size: int, device) -> ViewTransform:
    """The geometric frontalization alone (geometry/warp.py): the baseline with no learning."""
    warp = FrontalWarp(size).to(device)
    return lambda x, rows: warp(x, _poses(rows, x)).picture

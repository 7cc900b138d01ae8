"""Identification by pose: the one evaluator behind every rank-1 table of the project.

Gallery: the rows with role ``gallery`` (one per test subject and recording, the protocol's frontal
shot under the gallery flash).  Probes: the rows with role ``probe``, each matched against the gallery
of its own recording (session01 has one per expression).  A probe is a hit when its nearest gallery
embedding (cosine) is its own subject.

What is scored is a grid of *views* and *scorers*:
  views    the probe pictures as given (``raw``) and any transform of them (``frontalized`` by a
           generator, ``warp`` by the geometric frontalizer, ...), computed once per probe batch;
  scorers  recognizers, each with the views it scores: the shared recognizer (plain column names:
           ``raw``, ``frontalized``), the all-pose competitor on ``raw`` only (``raw_all_pose``), an
           independent judge (``frontalized_judge``, ...);
  fusions  the L2-normalised sum of two views' embeddings (``fused`` = raw + frontalized), per scorer.
Observers see every batch's pictures and embeddings and add their own per-probe values (image quality,
identity cosine to the target; evaluation/quality.py).  Only per-yaw running sums are kept, so memory
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
    def __call__(self, rows: list[dict], pictures: dict[str, torch.Tensor],
                 embeddings: dict[tuple[str, str], torch.Tensor]) -> list[dict]: ...


class Tally:
    """Running means per key (a yaw, "all", or a (recording, yaw) pair)."""

    def __init__(self):
        self.n = defaultdict(int)
        self.sums = defaultdict(lambda: defaultdict(float))

    def add(self, keys, **values) -> None:
        for key in keys:
            for k, v in values.items():
                self.sums[key][k] += float(v)
            self.n[key] += 1

    def table(self, keys) -> dict:
        return {k: {**{m: s / self.n[k] for m, s in self.sums[k].items()}, "probes": self.n[k]} for k in keys}


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


def subsample_probes(probes: list[dict], per_yaw: int | None, seed: int = 0) -> list[dict]:
    """A fixed random subset of at most ``per_yaw`` probes per yaw (all of them when None)."""
    if per_yaw is None:
        return probes
    by_yaw = defaultdict(list)
    for r in probes:
        by_yaw[int(r["yaw"])].append(r)
    rng = np.random.default_rng(seed)
    out = []
    for yaw in sorted(by_yaw):
        rows = by_yaw[yaw]
        idx = sorted(rng.choice(len(rows), min(per_yaw, len(rows)), replace=False))
        out += [rows[i] for i in idx]
    return out


@torch.no_grad()
def identify(rows: list[dict], prepared: Path, size: int, device, scorers: list[Scorer],
             views: dict[str, ViewTransform] | None = None, fusions: dict[str, tuple[str, str]] | None = None,
             observers: tuple[Observer, ...] = (), flip: bool = False, per_yaw: int | None = None, batch: int = 32,
             progress: bool = False) -> dict:
    """Rank-1 by yaw (and by recording and yaw) for every scorer, view and fusion.

    ``rows``: a manifest's rows (its test split's gallery and probes are used).  Returns
    ``{"table": {yaw: {column: mean, ..., "probes": n}, ..., "all": {...}}, "by_recording": {rec: table}}``.
    """
    views = {"raw": lambda x, _: x, **(views or {})}
    fusions = {k: v for k, v in (fusions or {}).items() if all(part in views for part in v)}
    test = [r for r in rows if r["split"] == "test"]
    gallery = [r for r in test if r["role"] == "gallery"]
    probes = subsample_probes([r for r in test if r["role"] == "probe"], per_yaw)
    if not gallery or not probes:
        raise ValueError("no test gallery or probes in these rows")
    tally = Tally()
    recordings = sorted({r["recording"] for r in gallery})
    bar = tqdm(total=len(probes), unit="probe", desc="identification", disable=not progress, leave=False)
    for rec in recordings:
        g_rows = [r for r in gallery if r["recording"] == rec]
        g_ids = np.array([r["subject"] for r in g_rows])
        g_emb = {s.name: embed_rows(s.recognizer, prepared, g_rows, size, device, flip=flip) for s in scorers}
        p_rows = [r for r in probes if r["recording"] == rec]
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
                tally.add((int(r["yaw"]), "all", (rec, int(r["yaw"])), (rec, "all")), **v)
            bar.update(len(chunk))
    bar.close()
    yaws = sorted({int(r["yaw"]) for r in probes})
    return {
        "table": tally.table(yaws + ["all"]),
        "by_recording": {rec: {k[1]: v for k, v in tally.table([(rec, y) for y in yaws if tally.n[(rec, y)]]
                                                                + [(rec, "all")]).items()} for rec in recordings},
    }


def _poses(rows: list[dict], x: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(row_poses(rows, x.shape[-1])).to(x.device)


def generator_view(generator: torch.nn.Module) -> ViewTransform:
    """The full-size output of a frontalization generator, as a view (with the probes' poses where it warps)."""
    if getattr(generator, "warp", None) is None:
        return lambda x, rows: generator(x)[-1]
    return lambda x, rows: generator(x, _poses(rows, x))[-1]


def warp_view(size: int, device) -> ViewTransform:
    """The geometric frontalization alone (geometry/warp.py): the baseline with no learning."""
    warp = FrontalWarp(size).to(device)
    return lambda x, rows: warp(x, _poses(rows, x)).picture

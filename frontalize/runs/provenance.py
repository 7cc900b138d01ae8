"""What a network was trained on: a record every checkpoint carries, and the checks evaluation makes with it.

A GAN checkpoint, a recognizer, the judge and the all-pose competitor each store, under ``RECORD_KEY``, a
``TrainedOn`` record as JSON: who the people are (``dataset``: SynthPIE subjects are a function of the seed,
so two presets of one seed show the same people), the protocol whose training split it used, the identities
whose images it trained on, the identities that chose its checkpoint (a GAN's validation subjects), the crop
size and a fingerprint of the prepared manifests it read.

Evaluation refuses a network that saw any subject the protocol tests (``check_clean``), and "the newest run"
means the newest run whose record is clean for the protocol at the crop size (``suits``).  Checkpoints written
before the record existed are refused with a message that says so (``Unrecorded``), never a traceback.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

RECORD_KEY = "trained_on"
EXTERNAL = "external"  # dataset prefix of weights trained elsewhere (an arcface_torch backbone.pth): other people


UNRECORDED = "it does not record what it was trained on (written before frontalize kept that record)"


class Unrecorded(ValueError):
    """A checkpoint without a training record (written before frontalize kept one)."""


class Contaminated(ValueError):
    """A network trained on (or chose its checkpoint with) subjects that the protocol tests."""


def subject_ranges(subjects) -> str:
    """(1, 2, 3, 7, 9, 10) -> "1-3, 7, 9-10": short enough for a report header."""
    ids = sorted(set(int(s) for s in subjects))
    if not ids:
        return "none"
    parts, start, prev = [], ids[0], ids[0]
    for s in ids[1:] + [None]:
        if s is not None and s == prev + 1:
            prev = s
            continue
        parts.append(f"{start}-{prev}" if prev > start else f"{start}")
        if s is not None:
            start = prev = s
    return ", ".join(parts)


@dataclass(frozen=True)
class TrainedOn:
    dataset: str  # who the people are: "SynthPIE v2 seed 0", "Multi-PIE", "external: ..."
    protocol: str | None  # the protocol whose training split it used (None: not a Multi-PIE manifest)
    size: int | None  # crop size of its inputs (None: not template crops, e.g. ArcFace-aligned folders)
    subjects: tuple[int, ...]  # identities whose images trained it
    validation: tuple[int, ...] = ()  # identities whose images chose its checkpoint (never trained on)
    fingerprint: str = ""  # of the prepared manifests it read (``manifest_fingerprint``)
    notes: dict = field(default_factory=dict)  # anything else worth showing (preset, recipe, ...)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "TrainedOn":
        d = json.loads(text)
        return cls(d["dataset"], d.get("protocol"), d.get("size"), tuple(d.get("subjects", ())),
                   tuple(d.get("validation", ())), d.get("fingerprint", ""), d.get("notes", {}))

    @property
    def seen(self) -> frozenset[int]:
        """Every identity whose images this network's training or checkpoint choice looked at."""
        return frozenset(self.subjects) | frozenset(self.validation)

    def same_people(self, dataset: str) -> bool:
        return not self.dataset.startswith(EXTERNAL) and self.dataset == dataset

    def overlap(self, tested: set[int], dataset: str) -> set[int]:
        """The tested subjects this network saw (none when its people are another dataset's)."""
        return set(self.seen) & set(tested) if self.same_people(dataset) else set()

    def describe(self) -> str:
        if self.dataset.startswith(EXTERNAL) and not self.subjects:
            return self.dataset + (f"; {self.size} px" if self.size else "")
        where = f"{self.protocol} training split" if self.protocol else "its own data"
        text = f"{self.dataset}, {where}: {len(self.subjects)} subjects ({subject_ranges(self.subjects)})"
        if self.validation:
            text += f"; checkpoint chosen on {len(self.validation)} validation subjects ({subject_ranges(self.validation)})"
        if self.size:
            text += f"; {self.size} px"
        if self.fingerprint:
            text += f"; manifests {self.fingerprint}"
        return text


def record_of(state: dict, path: Path | str, what: str = "network") -> TrainedOn:
    """The record inside a loaded checkpoint; ``Unrecorded`` (with what to do) when it has none."""
    text = state.get(RECORD_KEY) if isinstance(state, dict) else None
    if not text:
        raise Unrecorded(
            f"{path}: this {what} checkpoint does not record what it was trained on (written before frontalize kept "
            "that record), so it cannot be checked against the protocol's test subjects. Train it again with this "
            "version, or pass a checkpoint that has the record."
        )
    return TrainedOn.from_json(text)


def check_clean(name: str, path: Path | str, record: TrainedOn, protocol: str, tested: set[int], dataset: str,
                size: int | None = None) -> None:
    """Raise ``Contaminated`` when the network saw any subject that ``protocol`` tests (naming both and the overlap)."""
    seen = record.overlap(tested, dataset)
    if seen:
        trained = set(record.subjects) & seen
        chose = (set(record.validation) & seen) - trained
        how = []
        if trained:
            how.append(f"trained on {len(trained)} of them ({subject_ranges(trained)})")
        if chose:
            how.append(f"chose its checkpoint on {len(chose)} of them ({subject_ranges(chose)})")
        raise Contaminated(
            f"refusing the {name} {path}: {protocol} tests {len(tested)} subjects and this network "
            f"{' and '.join(how)} ({record.describe()}). Use a network trained on {protocol}'s training split."
        )
    if size is not None and record.size is not None and record.size != size:
        raise Contaminated(f"refusing the {name} {path}: it was trained on {record.size}-px crops, the data is {size} px")


def suits(record: TrainedOn, protocol: str, tested: set[int], dataset: str, size: int | None) -> bool:
    """Whether "the newest run" lookups may pick this network for ``protocol`` at ``size``."""
    return not record.overlap(tested, dataset) and (size is None or record.size in (None, size))


@dataclass(frozen=True)
class Use:
    """What a network is looked up for: the people and crops it will see, and the subjects it must never have seen
    (the protocol's test subjects; for a GAN's scorer also its validation subjects).  ``split``, when given: the
    protocol whose training split a suitable network trained on (setting2's recognizers train on setting2's 200
    subjects; a clean recognizer of setting1's 100 would pass the other tests, but it is not the one the recipe makes)."""

    protocol: str
    dataset: str
    size: int | None
    tested: frozenset[int]
    validation: frozenset[int] = frozenset()
    split: str | None = None

    def describe(self) -> str:
        text = f"{self.protocol} ({self.dataset}"
        return text + (f", {self.size} px)" if self.size else ")")

    def refusal(self, record: TrainedOn) -> str | None:
        """Why a network with this record does not suit (None when it does)."""
        why = []
        tested, validation = record.overlap(self.tested, self.dataset), record.overlap(self.validation, self.dataset)
        if tested:
            why.append(f"it saw {len(tested)} of {self.protocol}'s {len(self.tested)} test subjects ({subject_ranges(tested)})")
        if validation:
            why.append(f"it saw {len(validation)} of the {len(self.validation)} validation subjects "
                       f"({subject_ranges(validation)})")
        if not suits(record, self.protocol, set(), self.dataset, self.size):
            why.append(f"it was trained on {record.size}-px crops, the data is {self.size} px")
        if self.split is not None and record.protocol != self.split:
            where = f"{record.protocol}'s training split" if record.protocol else "data outside the protocols"
            why.append(f"it trained on {where}, not {self.split}'s")
        return "; ".join(why) + f" ({record.describe()})" if why else None

    def check(self, what: str = "network"):
        """A lookup's test of one checkpoint file: the reason to pass it over, or None."""
        def refusal(path: Path) -> str | None:
            try:
                return self.refusal(read_record(path, what))
            except Unrecorded:
                return UNRECORDED
        return refusal


def load_lazily(path: Path | str) -> dict:
    """A checkpoint whose tensors stay on disk until used (memory-mapped), so reading its record is cheap; files in
    torch's legacy (pre-zip) format cannot be mapped and are read whole."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:
        return torch.load(path, map_location="cpu", weights_only=True)


def read_record(path: Path | str, what: str = "network") -> TrainedOn:
    """The record of a checkpoint file, read without loading its weights."""
    return record_of(load_lazily(path), path, what)


def manifest_fingerprint(paths: list[Path]) -> str:
    """The first 16 hex digits of the SHA-256 of the files' bytes, in the order given (streamed)."""
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]

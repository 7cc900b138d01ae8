"""What a network was trained on: a record every checkpoint carries, and the checks evaluation makes with it.

A GAN checkpoint, a recognizer, the judge and the all-pose competitor each store, under ``RECORD_KEY``, a
``TrainedOn`` record as JSON: who the people are (``dataset``: SynthPIE subjects are a function of the seed,
so two presets of one seed show the same people), the protocol whose training split it used, the identities
whose images it trained on, the identities that chose its checkpoint (a GAN's validation subjects), the crop
size and a fingerprint of the prepared manifests it read.

Evaluation refuses a network that saw any subject the protocol tests (``check_clean``), and "the newest run"
means the newest run whose record is clean for the protocol at the crop size (``suits``).  Checkpoints written
before the record existed are refused with a message that says so (``Unrecorded``), never a traceback.

Subject ids name people only within one dataset, so a record proves what it saw only where its dataset is the data's
(``people_refusal``).  Nothing else can be checked: data outside the manifests (an image folder, RecordIO,
arcface_torch's weights), another dataset's name (a name is a label: a SynthPIE tree prepared without its marker is
called "Multi-PIE"), or manifests prepared before the dataset was recorded.  Such a network, and one with no record
at all, is admitted only where the user declares it external (``--external PATH``, ``read_admitted``); its
record then says so, and so does every report header that shows it.  A record that shows a tested subject is refused
whatever the user declares.

The manifest fingerprint is compared where the record's manifests can be read again (``manifest_drift``): a
difference is named loudly, not refused.  Within one dataset a subject id is one person in every preparation, so the
overlap check above holds whatever the manifests' bytes; what a different fingerprint says is that the crops,
landmarks, flashes or split files differ from the ones the network trained on (prepared again, another preset, an
edited file), which changes what a figure measures, not whether the network saw a tested face.  Refusing it would
make every re-preparation retrain every network.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from frontalize.data.manifest import known_dataset, manifest_path

RECORD_KEY = "trained_on"
EXTERNAL = "external"  # dataset prefix of weights trained elsewhere (an arcface_torch backbone.pth): other people


UNRECORDED = "it does not record what it was trained on (written before frontalize kept that record)"
DECLARED = "declared_external"  # notes key: the user declared the network external (--external), nothing else admits it


class Unrecorded(ValueError):
    """A checkpoint without a training record (written before frontalize kept one)."""


class Contaminated(ValueError):
    """A network trained on (or chose its checkpoint with) subjects that the protocol tests."""


class Unproven(Contaminated):
    """A network whose record cannot show which of the data's people it saw, not declared external by the user
    (a ``Contaminated`` for every caller that refuses those: it may have seen them)."""


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
    # other datasets trained on in the same run (``data.mix``), each a record of its own: subject ids name people
    # only within their dataset, so each part answers for its own people
    mixed: tuple["TrainedOn", ...] = ()

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "TrainedOn":
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, d: dict) -> "TrainedOn":
        return cls(d["dataset"], d.get("protocol"), d.get("size"), tuple(d.get("subjects", ())),
                   tuple(d.get("validation", ())), d.get("fingerprint", ""), d.get("notes", {}),
                   tuple(cls.from_dict(m) for m in d.get("mixed", ())))

    @property
    def parts(self) -> tuple["TrainedOn", ...]:
        """This record and the records of the datasets mixed into the same run."""
        return (self, *self.mixed)

    @property
    def seen(self) -> frozenset[int]:
        """Every identity whose images this network's training or checkpoint choice looked at."""
        return frozenset(self.subjects) | frozenset(self.validation)

    @property
    def declared(self) -> bool:
        """Whether the user declared it external (``--external``): what admitted it, with what this record lacks."""
        return bool(self.notes.get(DECLARED))

    def same_people(self, dataset: str) -> bool:
        return not self.dataset.startswith(EXTERNAL) and self.dataset == dataset

    def trained(self, ids: set[int], dataset: str) -> set[int]:
        """Those of ``ids`` whose images trained this network, in any of its datasets that is the data's."""
        return {s for part in self.parts if part.same_people(dataset) for s in set(part.subjects) & set(ids)}

    def overlap(self, tested: set[int], dataset: str) -> set[int]:
        """The tested subjects this network saw, in any of its datasets that is the data's (none: other datasets')."""
        return {s for part in self.parts if part.same_people(dataset) for s in set(part.seen) & set(tested)}

    def describe(self) -> str:
        declared = "; external, user-declared (--external)" if self.declared else ""
        if self.dataset.startswith(EXTERNAL) and not self.subjects:
            return self.dataset + (f"; {self.size} px" if self.size else "") + declared
        where = f"{self.protocol} training split" if self.protocol else "its own data"
        text = f"{self.dataset}, {where}: {len(self.subjects)} subjects ({subject_ranges(self.subjects)})"
        if self.validation:
            text += f"; checkpoint chosen on {len(self.validation)} validation subjects ({subject_ranges(self.validation)})"
        if self.size:
            text += f"; {self.size} px"
        if self.fingerprint:
            text += f"; manifests {self.fingerprint}"
        for part in self.mixed:
            text += f"; mixed with {part.dataset}: {len(part.subjects)} subjects ({subject_ranges(part.subjects)})"
        return text + declared


def record_of(state: dict, path: Path | str, what: str = "network") -> TrainedOn:
    """The record inside a loaded checkpoint; ``Unrecorded`` (with what to do) when it has none."""
    text = state.get(RECORD_KEY) if isinstance(state, dict) else None
    if not text:
        raise Unrecorded(
            f"{path}: this {what} checkpoint does not record what it was trained on (written before frontalize kept "
            "that record, or weights from elsewhere), so it cannot be checked against the protocol's test subjects. "
            "Train it again with this version, or pass a checkpoint that has the record; weights trained elsewhere on "
            f"people the protocol does not test (an arcface_torch backbone.pth) are taken when declared: --external {path}"
        )
    return TrainedOn.from_json(text)


# ------------------------------------------------------------------------------------------- the user's word
def is_declared(path: Path | str, external) -> bool:
    """Whether ``path`` is one the user declared external: named itself, or inside a named folder (a run's checkpoints)."""
    p = Path(path).resolve()
    named = [Path(e).resolve() for e in external]
    return any(p == e or e in p.parents for e in named)


def declared_record(record: TrainedOn | None, path: Path | str) -> TrainedOn:
    """The record of a network the user declared external: its own, marked so, or one that says it has none."""
    record = record or TrainedOn(f"{EXTERNAL}: no training record ({Path(path).name})", None, None, ())
    return replace(record, notes={**record.notes, DECLARED: "user"})


def read_admitted(path: Path | str, read, dataset: str, external=()) -> TrainedOn:
    """``read(path)``'s record; for a path the user declared external, a record that cannot show which of
    ``dataset``'s people it saw (or its absence) marked so.  A record that can show it stays what it says: a
    declaration speaks only where the record cannot (``people_refusal``)."""
    try:
        record = read(path)
    except Unrecorded:
        if not is_declared(path, external):
            raise
        return declared_record(None, path)
    if is_declared(path, external) and people_refusal(record, dataset):
        return declared_record(record, path)
    return record


def people_refusal(record: TrainedOn, dataset: str) -> str | None:
    """Why ``record`` cannot show which of ``dataset``'s people its network saw (None: same dataset, it can).  A run
    that mixed datasets answers for each: every part must be the data's dataset."""
    if not known_dataset(dataset):
        return "the data's manifests do not say whose people they are (prepared before frontalize recorded it)"
    for part in record.mixed:
        why = people_refusal(replace(part, mixed=()), dataset)
        if why:
            return f"mixed into its training: {why}"
    if record.dataset.startswith(EXTERNAL):
        return f"its training data lies outside frontalize's manifests ({record.dataset}): nothing shows whom it saw"
    if not known_dataset(record.dataset):
        return "it trained on manifests prepared before frontalize recorded whose people they are"
    if record.dataset != dataset:
        return (f"it trained on {record.dataset}'s people and the data is {dataset}'s: a dataset's name alone cannot "
                "show they are other people")
    return None


def check_people(name: str, path: Path | str, record: TrainedOn, dataset: str) -> None:
    """Refuse (``Unproven``) a network whose record cannot show whom it saw, unless the user declared it external."""
    why = people_refusal(record, dataset)
    if why and not (record.declared and known_dataset(dataset)):
        raise Unproven(f"refusing the {name} {path}: {why}. If it was trained elsewhere, on people these data do not "
                       f"test, declare it: --external {path}")


def check_clean(name: str, path: Path | str, record: TrainedOn, protocol: str, tested: set[int], dataset: str,
                size: int | None = None, unproven_ok: bool = False) -> None:
    """Raise ``Contaminated`` when the network saw any subject that ``protocol`` tests (naming both and the overlap),
    and ``Unproven`` when its record cannot show whom it saw and the user did not declare it external (unless
    ``unproven_ok``: the GAN trainer's rule for its own recognizer, training/validation.py)."""
    if not unproven_ok:
        check_people(name, path, record, dataset)
    seen = record.overlap(tested, dataset)
    if seen:
        trained = record.trained(seen, dataset)
        chose = seen - trained
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
    """Whether "the newest run" lookups may pick this network for ``protocol`` at ``size``: only one whose record
    shows whom it saw (no lookup takes a network on the user's word)."""
    return (people_refusal(record, dataset) is None and not record.overlap(tested, dataset)
            and (size is None or record.size in (None, size)))


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
        unproven = people_refusal(record, self.dataset)
        if unproven:
            why.append(unproven)
        tested, validation = record.overlap(self.tested, self.dataset), record.overlap(self.validation, self.dataset)
        if tested:
            why.append(f"it saw {len(tested)} of {self.protocol}'s {len(self.tested)} test subjects ({subject_ranges(tested)})")
        if validation:
            why.append(f"it saw {len(validation)} of the {len(self.validation)} validation subjects "
                       f"({subject_ranges(validation)})")
        if self.size is not None and record.size not in (None, self.size):
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


def fingerprinted_protocols(record: TrainedOn) -> list[str]:
    """The protocols whose manifests the record's fingerprint covers, in the order hashed: a GAN's, its protocol;
    a recognizer's, its protocol and then those whose test subjects it left out (recognition/train.py)."""
    if not record.protocol:
        return []
    return list(dict.fromkeys([record.protocol, *record.notes.get("excluded_test_subjects_of", [])]))


def manifest_drift(record: TrainedOn, prepared: Path | str, dataset: str) -> str | None:
    """What to say where the record's fingerprint differs from the same manifests in ``prepared`` (same people, its
    protocols' manifests there at its crop size); None where they match or cannot be read again."""
    protocols = fingerprinted_protocols(record)
    if not record.fingerprint or record.dataset != dataset or not record.size or not protocols:
        return None
    paths = [manifest_path(Path(prepared), p, record.size) for p in protocols]
    if not all(p.exists() for p in paths):
        return None
    now = manifest_fingerprint(paths)
    if now == record.fingerprint:
        return None
    return (f"it trained on other manifests of the same people: fingerprint {record.fingerprint}, where {prepared} "
            f"holds {now} for {', '.join(protocols)} at {record.size} px (prepared again, another preset or an edited "
            "file): its subjects are checked by id, but its crops, landmarks or splits were not these")


def manifest_fingerprint(paths: list[Path]) -> str:
    """The first 16 hex digits of the SHA-256 of the files' bytes, in the order given (streamed)."""
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]

"""The independent judge, enforced: a second recognizer that no judged generator's training used, trained on the
shared recognizer's people, and not the shared recognizer under another name.

DESIGN: a generator trained against the shared recognizer can learn to please it; the judge's rows are the check that
it did not.  They check nothing when the judge is

- the shared recognizer: the same file, or the same weights in another file or layout (``weights_digest``);
- a recognizer a judged generator's training used: its identity loss, or the scorer that chose its best.pt (both
  are ``loss.recognizer``; the generator's record names each with its weights' digest, trainer.training_recognizers,
  so a copy elsewhere is found too; its config's ``loss.recognizer`` counts even where the record is older);
- the same training again: the shared recognizer's architecture and seed (a re-run, or another of its checkpoints).

And its rows compare with the shared ones only where it trained on the same people: its record's subjects must be
the shared recognizer's, in the same dataset, so that the two differ by architecture and seed alone.  Where one of
them was trained elsewhere (its people unknown) that cannot be shown, and the judge is refused; where both were
(the user declared both external) the header says their people were not compared.  The header says how the judge
differs: architecture, seed, file, weights.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from frontalize.config import from_yaml
from frontalize.recognition.recognizer import RecognizerFile, recognizer_file, recognizer_record, weights_digest
from frontalize.runs.provenance import EXTERNAL, TrainedOn, Unrecorded, load_lazily, subject_ranges

JUDGE_RECIPE = "configs/recognizer_synthpie_judge.yaml"


class NotIndependent(ValueError):
    """A judge that is the shared recognizer, a recognizer a judged generator trained with, or trained on other people."""


@dataclass(frozen=True)
class UsedInTraining:
    """A recognizer a generator's training used: what for, where it was, its weights' digest where recorded."""

    role: str
    path: Path
    digest: str | None
    generator: Path


def used_in_training(generator: Path, record: TrainedOn | None) -> list[UsedInTraining]:
    """The recognizers that ``generator``'s record and config name (identity loss, checkpoint choice)."""
    notes = record.notes if record else {}
    used = [UsedInTraining(role, Path(notes[key]), notes.get(f"{key}_weights"), generator)
            for key, role in (("identity_recognizer", "identity loss"), ("selection_recognizer", "choice of best.pt"))
            if notes.get(key)]
    state = load_lazily(generator)
    configured = from_yaml(state["config"]).loss.recognizer if isinstance(state.get("config"), str) else None
    if configured and configured != "auto" and not any(_same_path(u.path, Path(configured)) for u in used):
        used.append(UsedInTraining("loss.recognizer (identity loss or validation scorer)", Path(configured), None, generator))
    return used


def _same_path(a: Path, b: Path) -> bool:
    if Path(a).resolve() == Path(b).resolve():
        return True
    try:
        return Path(a).samefile(b)  # hard links, bind mounts
    except OSError:
        return False


def _digest_of(path: Path) -> str | None:
    """The weights' digest of a file that is still there and is a recognizer (None otherwise)."""
    try:
        return weights_digest(path) if Path(path).is_file() else None
    except (ValueError, RuntimeError, OSError):
        return None


def people_difference(judge: TrainedOn, shared: TrainedOn) -> str | None:
    """Why the judge's training people cannot be shown to be the shared recognizer's (None: same dataset, same ids,
    or both trained elsewhere)."""
    judge_out, shared_out = judge.dataset.startswith(EXTERNAL), shared.dataset.startswith(EXTERNAL)
    if judge_out and shared_out:
        return None
    if judge_out or shared_out:
        whose = "its" if judge_out else "the shared recognizer's"
        return f"{whose} training data lies outside the manifests, so nothing shows that it trained on the same people"
    if judge.dataset != shared.dataset:
        return f"it trained on {judge.dataset}'s people, the shared recognizer on {shared.dataset}'s"
    mine, theirs = set(judge.subjects), set(shared.subjects)
    if mine != theirs:
        return (f"it trained on {len(mine)} subjects and the shared recognizer on {len(theirs)}: "
                f"{len(mine - theirs)} only the judge's ({subject_ranges(mine - theirs)}), "
                f"{len(theirs - mine)} only the shared one's ({subject_ranges(theirs - mine)})")
    return None


def _seed(file: RecognizerFile) -> str:
    return "not recorded" if file.seed is None else str(file.seed)


def check_judge(judge: RecognizerFile, judge_record: TrainedOn, shared: RecognizerFile | None,
                shared_record: TrainedOn | None, used: list[UsedInTraining]) -> list[str]:
    """Refuse (``NotIndependent``) a judge that is not independent; else the header's lines on how it differs."""
    refusing = f"refusing the independent judge {judge.path}"
    for u in used:
        if _same_path(judge.path, u.path) or judge.digest in {u.digest, _digest_of(u.path)}:
            raise NotIndependent(f"{refusing}: it is the recognizer the generator {u.generator} trained with, for its "
                                 f"{u.role} ({u.path}): its rows would measure how well the generator learned to please "
                                 f"it. Use a recognizer no training used ({JUDGE_RECIPE})")
    lines = []
    if shared is not None:
        if _same_path(judge.path, shared.path):
            raise NotIndependent(f"{refusing}: it is the shared recognizer's file. Pass a second recognizer, of another "
                                 f"architecture and seed ({JUDGE_RECIPE})")
        if judge.digest == shared.digest:
            raise NotIndependent(f"{refusing}: it holds the shared recognizer's weights ({shared.path}, digest "
                                 f"{shared.digest}): the same network in another file")
        if judge.architecture is not None and judge.seed is not None and \
                (judge.architecture, judge.seed) == (shared.architecture, shared.seed):
            raise NotIndependent(f"{refusing}: the shared recognizer's architecture ({judge.describe_architecture()}) and "
                                 f"seed ({judge.seed}), so the same training again (a re-run, or another of its "
                                 f"checkpoints). Train the judge with another architecture and seed ({JUDGE_RECIPE})")
        why = people_difference(judge_record, shared_record)
        if why:
            raise NotIndependent(f"{refusing}: {why}. A judge trains on the shared recognizer's subjects, so that the "
                                 "two differ by architecture and seed alone")
        same_people = ("both trained elsewhere (external): their people not compared"
                       if judge_record.dataset.startswith(EXTERNAL)
                       else f"the same {len(judge_record.subjects)} training subjects of {judge_record.dataset}")
        lines.append(f"Independent judge against the shared recognizer: architecture {judge.describe_architecture()} "
                     f"against {shared.describe_architecture()}; seed {_seed(judge)} against {_seed(shared)}; file "
                     f"`{judge.path}` against `{shared.path}`; weights {judge.digest} against {shared.digest}; "
                     f"{same_people}.")
    else:
        lines.append(f"Independent judge `{judge.path}`: architecture {judge.describe_architecture()}, seed "
                     f"{_seed(judge)}, weights {judge.digest}; no shared recognizer to compare it with.")
    trained_with = sorted({f"{u.role}: `{u.path}`" for u in used})
    lines.append("No judged generator's training used the judge" + (f" (they used {'; '.join(trained_with)})."
                                                                    if trained_with else " (they used no recognizer)."))
    return lines


def judge_lines(judge: Path, judge_record: TrainedOn, shared: Path | None, shared_record: TrainedOn | None,
                generators: list[tuple[Path, TrainedOn | None]], shared_arch: str | None = None) -> list[str]:
    """``check_judge`` on files: the judge, the shared recognizer (``shared_arch`` for a bare state dict), and the
    generators (checkpoint, record) whose rows it judges."""
    used = [u for path, record in generators for u in used_in_training(path, record)]
    shared_file = recognizer_file(shared, shared_arch, shared_record) if shared is not None else None
    return check_judge(recognizer_file(judge, record=judge_record), judge_record, shared_file, shared_record, used)


def judge_lookup_check(shared: Path, check):
    """A "newest judge" lookup's test (runs/folders.py): ``check`` (the protocol's), then independence of ``shared``."""
    try:
        shared_record = recognizer_record(shared)
    except Unrecorded:
        return check
    shared_file = recognizer_file(shared, record=shared_record)

    def refusal(path: Path) -> str | None:
        why = check(path)
        if why:
            return why
        record = recognizer_record(path)
        try:
            check_judge(recognizer_file(path, record=record), record, shared_file, shared_record, [])
        except NotIndependent as e:
            return str(e).split(": ", 1)[1]
        return None

    return refusal

"""`real_identity_distance`: dlib's descriptor distance from real photos to their frontalized faces.

Real faces that installed packages ship (offline): scikit-image's astronaut (Eileen Collins) and cameraman,
matplotlib's Grace Hopper.  Each is frontalized by the warp alone and, where a checkpoint is given
(``FRONTALIZE_BENCH_CHECKPOINT``) or found (the newest GAN run under ./runs), by the generator; the figure is the
distance of each output to its own photo (face/dlib_identity.py, inference/identity.py).  For reference: the
distance of each photo to its own input crop (what alignment and the crop's resolution alone cost) and between
the photos (different people).
"""
from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np

from frontalize.bench.registry import benchmark

CHECKPOINT_ENV = "FRONTALIZE_BENCH_CHECKPOINT"


def real_photos() -> dict[str, Path]:
    """The real face photos installed packages ship, by name (those present)."""
    import matplotlib
    import skimage.data

    skimage_data = Path(skimage.data.__file__).parent
    candidates = {
        "astronaut": skimage_data / "astronaut.png",
        "cameraman": skimage_data / "camera.png",
        "grace_hopper": Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg",
    }
    return {name: path for name, path in candidates.items() if path.is_file()}


def distances(engine, judge, photos: dict[str, Path]) -> dict:
    """Per photo: its distance to the output, to its own input crop, and its descriptor (for the cross-person line)."""
    from frontalize.data.images import ImageProblem, read_photo
    from frontalize.face.dlib_identity import distance
    from frontalize.data.template import crop_face_box
    from frontalize.inference.identity import photo_descriptor

    out = {}
    box = crop_face_box(engine.size)
    for name, path in photos.items():
        try:
            crop = engine.crops(path)[0]
        except ImageProblem as e:  # a package's photo that MTCNN no longer finds: reported, not fatal
            out[name] = {"problem": str(e)}
            continue
        output = engine.frontalize([crop])[0]
        mine = photo_descriptor(judge, read_photo(path), crop.matrix, engine.size)
        out[name] = {"output": distance(mine, judge.describe(output, box)),
                     "input_crop": distance(mine, judge.describe(crop.crop, box)), "descriptor": mine}
    return out


def _checkpoint() -> Path | None:
    from frontalize.runs.folders import NoCheckpoint, newest_generator_checkpoint

    if os.environ.get(CHECKPOINT_ENV):
        return Path(os.environ[CHECKPOINT_ENV])
    try:
        return newest_generator_checkpoint(Path("runs"))
    except NoCheckpoint:
        return None


@benchmark("real_identity_distance", "dlib descriptor distance, real photos (packages') to their warp-only / generator outputs")
def real_identity_distance(quick: bool) -> dict:
    from frontalize.face.dlib_identity import SAME_PERSON, DlibJudge, JudgeMissing, distance
    from frontalize.inference.frontalizer import Frontalizer

    try:
        judge = DlibJudge()
    except JudgeMissing as e:
        return {"skipped": str(e)}
    photos = real_photos()
    if len(photos) < 2:
        return {"skipped": f"fewer than two real photos installed ({', '.join(photos) or 'none'})"}
    measured = distances(Frontalizer(None), judge, photos)
    warp = {n: d for n, d in measured.items() if "output" in d}
    if not warp:
        return {"skipped": "no face found in the installed photos", "problems": measured}
    result = {
        "real_identity_distance": round(float(np.median([d["output"] for d in warp.values()])), 4),
        "same_person_line": SAME_PERSON,
        "photos": {n: str(p) for n, p in photos.items()},
        "warp_only": {n: round(d["output"], 4) for n, d in warp.items()},
        "input_crop": {n: round(d["input_crop"], 4) for n, d in warp.items()},
        "different_people": {f"{a} - {b}": round(distance(warp[a]["descriptor"], warp[b]["descriptor"]), 4)
                             for a, b in itertools.combinations(warp, 2)},
        "problems": {n: d["problem"] for n, d in measured.items() if "problem" in d},
        "note": "headline: the median over photos of the warp-only output's distance to its photo",
    }
    checkpoint = _checkpoint()
    if checkpoint is None:
        result["generator"] = f"no checkpoint ({CHECKPOINT_ENV} unset, none under ./runs)"
    else:
        engine = Frontalizer(checkpoint)
        result["generator"] = {n: round(d["output"], 4) if "output" in d else d["problem"]
                               for n, d in distances(engine, judge, photos).items()}
        result["generator_checkpoint"] = str(checkpoint)
        result["generator_trained_on"] = engine.describe()
    return result

"""What each learned part of a warp refiner does to real faces: Pointing'04 rank-1 (dlib) of a refiner checkpoint and
of the same checkpoint with one learned part switched off at inference, beside the warp alone, on full frames and
tight crops, in one pass (issue 27: the refiner trained on SynthPIE loses to the warp on real faces; which part?).

    python -m frontalize.bench.refiner_parts --checkpoint runs/gan/000-setting1_4r/checkpoints/step_00001000.pt

The variants (models/refiner.py ``LEARNED_PARTS``):
  refiner           the checkpoint as ``frontalize infer`` runs it
  no flow           the residual flow on the warp's grid set to zero (the mean head's geometry, as the warp)
  no shading        gain 1 and offset 0 (the warped pixels' own light and colour)
  no face fill      the fill's mask held at 0 on the reference face (the face shows the shaded warp only)
  no fill beyond    the fill's mask held at 0 beyond the face (hair, neck, background: the shaded warp's)
  fill only         flow and shading both off: the warp with the learned fill alone
and "warp" (the geometric frontalization alone) and "raw" (the photo itself).  Differences against ``refiner`` rank
what each part costs or gives on real faces.  Measuring only: Pointing'04 never chooses a weight (its README).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from frontalize.data.images import read_photo
from frontalize.data.pointing04 import default_root, read_frames, split
from frontalize.evaluation.real_faces import CONDITIONS, Pipeline, RealFaceTally, as_condition, describe_probe, gallery_descriptors
from frontalize.evaluation.real_faces_report import write_real_face_report

REFINER = "refiner"
OFF = {"no flow": ("flow",), "no shading": ("shading",), "no face fill": ("face fill",),
       "no fill beyond": ("fill beyond",), "fill only": ("flow", "shading")}


def variants(checkpoint: Path, names: list[str] | None = None, device: str = "cpu") -> list[Pipeline]:
    """The refiner, the refiner with learned parts off (``names`` of ``OFF``; default all), and the warp alone: one
    MTCNN pass per probe."""
    from frontalize.inference.frontalizer import Frontalizer

    def engine(off: tuple[str, ...]):
        e = Frontalizer(checkpoint, device)
        if getattr(e.G, "geometry", None) != "refine":
            raise SystemExit(f"error: {checkpoint} is no warp refiner (model.geometry=refine): it has no parts to switch off")
        e.G.switched_off = e.G.switched_off | set(off)  # beside any the checkpoint trained held (model.fixed_parts)
        return e

    refiner = engine(())
    warp = Frontalizer(None, device, size=refiner.size)
    chosen = [n for n in OFF if names is None or n in names]
    pipelines = [Pipeline(REFINER, refiner), *(Pipeline(name, engine(OFF[name])) for name in chosen),
                 Pipeline("warp", warp)]
    for p in pipelines[1:]:
        p.engine.detector = refiner.detector
    return pipelines


def main(argv=None) -> int:
    from frontalize.bench.real_losses import losses_markdown
    from frontalize.face.dlib_identity import DlibJudge

    p = argparse.ArgumentParser(prog="python -m frontalize.bench.refiner_parts", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, required=True, help="a warp refiner's checkpoint (model.geometry=refine)")
    p.add_argument("--root", type=Path, default=None, help="Pointing'04 copy (default: the vendored tilt-0 frames)")
    p.add_argument("--out", type=Path, default=Path("runs/refiner_parts"))
    p.add_argument("--limit", type=int, default=None, help="only the first N probes (a smoke run)")
    p.add_argument("--variants", nargs="+", default=None, choices=list(OFF), metavar="NAME",
                   help=f"only these variants beside the refiner and the warp (default: all of {', '.join(OFF)})")
    args = p.parse_args(argv)
    frames = read_frames(args.root or default_root()).frames
    gallery, probes = split(frames)
    probes = probes[: args.limit] if args.limit else probes
    judge = DlibJudge()
    pipelines = variants(args.checkpoint, args.variants)
    names = [q.name for q in pipelines]
    tally = RealFaceTally(gallery_descriptors(judge, gallery, CONDITIONS))
    for frame in tqdm(probes, desc="refiner parts", unit="probe"):
        rgb = read_photo(frame.path)
        for c in CONDITIONS:
            tally.add(describe_probe(judge, as_condition(frame, rgb, c), pipelines), ["raw", *names])
    header = [f"{len(probes)} probes of {len(gallery)} people; {args.checkpoint} with one learned part off at a time "
              "(frontalize/bench/refiner_parts.py)."]
    paths = write_real_face_report(tally, args.out, header, {}, [str(args.checkpoint)], name="pointing04_refiner_parts")
    text = losses_markdown(tally, names, base=REFINER)
    (args.out / "parts.md").write_text(text)
    print(text)
    print("wrote", ", ".join(str(v) for v in paths.values()), args.out / "parts.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

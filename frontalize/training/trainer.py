"""GAN training: critic and generator phases per step, logging, samples, evaluation, checkpoints, resume.

One step = ``critic_iters`` critic updates, then one generator update on the last critic batch's
profiles.  The batches of step s are a pure function of (seed, s) (see training.data), the RNG states
are checkpointed, so a run resumed after a crash repeats the uninterrupted run's losses on CPU.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader
from tqdm import tqdm

from frontalize.config import Config, to_yaml
from frontalize.data.images import load_batch, to_uint8, write_png
from frontalize.data.manifest import Manifest, read_manifest
from frontalize.data.multipie import ALL_COLUMN, CAMERA_BY_NAME, RAISED
from frontalize.data.sampling import StepBatches
from frontalize.evaluation.identification import Scorer, generator_view, identify
from frontalize.evaluation.quality import TargetQuality
from frontalize.geometry.pose import row_poses
from frontalize.losses.adversarial import clip_weights
from frontalize.losses.reconstruction import IdentityLoss, VGGRelu7Features
from frontalize.models.factory import build_critics, build_generator
from frontalize.models.vgg import VGGFaceEncoder
from frontalize.recognition.recognizer import Recognizer, recognizer_record, weights_digest
from frontalize.runs import checkpoint as ckpt
from frontalize.runs import distributed as ddp
from frontalize.runs.precision import Precision, choose_precision
from frontalize.runs.provenance import RECORD_KEY, TrainedOn, manifest_fingerprint, subject_ranges
from frontalize.runs.tracking import Tracker
from frontalize.training.data import FrontalFaces, Mixed, ProfileFolder, ProfilePairs, paired_augment
from frontalize.training.encoder_pretraining import pretrain_encoder
from frontalize.training.phases import FrontalizationLoss
from frontalize.training.validation import check_scorer, hold_out_subjects, validation_rows
from frontalize.utils.io import atomic_write_text

PRETRAINED_ENCODER = "encoder_pretrained.pth"  # in the run folder, VGG-Face dag layout
CHECK_PROBES_PER_YAW = 24  # the monitoring check's fixed subsample of test probes (no validation subjects held out)


def build_identity(cfg: Config, device) -> tuple[IdentityLoss | None, str]:
    """The identity features a setting asks for, or None with the reason."""
    if not cfg.loss.feature:
        return None, "identity loss off (loss.feature=0)"
    if cfg.loss.identity_features == "recognizer":
        if not cfg.loss.recognizer:
            raise ValueError("loss.identity_features=recognizer needs loss.recognizer=<checkpoint>")
        return IdentityLoss(Recognizer.load(cfg.loss.recognizer).to(device)), f"identity: recognizer {cfg.loss.recognizer}"
    if cfg.model.encoder_weights is None:
        return None, ("identity loss off: VGG relu7 features need VGG-Face weights (model.encoder_weights); "
                      "or use loss.identity_features=recognizer")
    vgg = VGGFaceEncoder(weights=cfg.model.encoder_weights, frozen=True).to(device)
    return IdentityLoss(VGGRelu7Features(vgg)), "identity: VGG-Face relu7"


def read_mixed(cfg: Config) -> Manifest | None:
    """The manifest of the data mixed into this run (``data.mix``): the same protocol and size, training rows only."""
    if not cfg.data.mix:
        return None
    if cfg.data.profile_folder:
        raise ValueError("data.mix adds (input, target) pairs: it cannot join image-folder inputs (data.profile_folder)")
    mixed = read_manifest(cfg.data.mix, cfg.data.protocol, cfg.data.size)
    if not any(r["split"] == "train" for r in mixed.rows):
        raise ValueError(f"data.mix={cfg.data.mix}: its {cfg.data.protocol} manifest has no training rows")
    return mixed


def check_mixed_people(manifest: Manifest, mixed: Manifest | None, val_subjects: set[int]) -> None:
    """Refuse mixed-in data of the run's own dataset that would train on a subject the protocol tests or that
    chooses best.pt (hold-out applies to the run's own manifest; another dataset's ids name other people)."""
    if mixed is None or mixed.dataset != manifest.dataset:
        return
    leaked = mixed.subjects("train") & (manifest.subjects("test") | set(val_subjects))
    if leaked:
        raise ValueError(f"data.mix={mixed.path.parent.parent}: its training split holds subjects that this run tests "
                         f"or validates on ({len(leaked)}: {subject_ranges(leaked)}); mix in data of other subjects")


def mixed_record(cfg: Config, mixed: Manifest) -> TrainedOn:
    """The record of the data mixed into a run: its own dataset, every training subject, its manifest's fingerprint."""
    return TrainedOn(mixed.dataset, cfg.data.protocol, cfg.data.size, tuple(sorted(mixed.subjects("train"))), (),
                     manifest_fingerprint([mixed.path]), {"prepared": str(cfg.data.mix)})


def training_record(cfg: Config, manifest: Manifest, rows: list[dict], val_subjects: set[int],
                    mixed: Manifest | None = None) -> TrainedOn:
    """What this run's generator is trained on: the training split's subjects less the held-out validation ones,
    which choose its checkpoint, and the data mixed in (``data.mix``) as a record of its own dataset."""
    notes = {"setting": cfg.setting}
    if cfg.data.profile_folder:
        notes["profile_inputs"] = f"image folder {cfg.data.profile_folder}"
    if cfg.model.encoder_weights:
        notes["encoder"] = f"VGG-Face weights {cfg.model.encoder_weights}"
    notes.update(training_recognizers(cfg, val_subjects))
    return TrainedOn(manifest.dataset, cfg.data.protocol, cfg.data.size,
                     tuple(sorted({int(r["subject"]) for r in rows if r["split"] == "train"})), tuple(sorted(val_subjects)),
                     manifest_fingerprint([manifest.path]), notes,
                     (mixed_record(cfg, mixed),) if mixed is not None else ())


def training_recognizers(cfg: Config, val_subjects: set[int]) -> dict[str, str]:
    """The recognizers this run's training uses, with their weights' digest: the identity loss's, and the scorer that
    chooses best.pt on the validation subjects (both ``loss.recognizer``).  Evaluation refuses either as the judge,
    also when it is copied elsewhere (pipeline/judging.py)."""
    path = cfg.loss.recognizer
    if not path or path == "auto":
        return {}
    digest = {"weights": weights_digest(path)} if Path(path).exists() else {}
    used = {}
    if cfg.loss.identity_features == "recognizer":
        used["identity_recognizer"] = str(path)
        used.update({f"identity_recognizer_{k}": v for k, v in digest.items()})
    if val_subjects and Path(path).exists():  # Trainer.evaluate: the check that writes best.pt
        used["selection_recognizer"] = str(path)
        used.update({f"selection_recognizer_{k}": v for k, v in digest.items()})
    return used


def check_identity_recognizer(cfg: Config, manifest: Manifest | None = None) -> None:
    """Refuse (``Contaminated``, ``Unrecorded``) a configured recognizer that saw the run's validation subjects or the
    protocol's test subjects: it is the identity loss and the scorer that chooses best.pt."""
    path = cfg.loss.recognizer
    if not path or path == "auto" or not Path(path).exists():
        return
    manifest = manifest or read_manifest(cfg.data.prepared, cfg.data.protocol, cfg.data.size)
    _, held = hold_out_subjects(manifest.rows, cfg.data.val_subjects)
    check_scorer(path, recognizer_record(path), cfg.data.protocol, manifest.subjects("test"), held, manifest.dataset)


def column_tag(column: str) -> str:
    """A table column as a metric-name part: "+45↑" -> "+45_raised"."""
    return column.replace(RAISED, "_raised")


def _optimizer(cfg: Config, params):
    o = cfg.optim
    if o.name == "adam":
        return torch.optim.Adam(params, lr=o.lr, betas=(o.beta1, o.beta2))
    if o.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=o.lr)
    raise ValueError(f"unknown optimiser {o.name!r}: adam or rmsprop")


def grad_norm(module: torch.nn.Module) -> torch.Tensor:
    norms = [p.grad.detach().norm() for p in module.parameters() if p.grad is not None]
    return torch.linalg.vector_norm(torch.stack(norms)) if norms else torch.zeros(())


class Trainer:
    def __init__(self, cfg: Config, run_dir: Path, info: ddp.DistInfo, device: torch.device, progress: bool = True):
        self.cfg, self.run_dir, self.info, self.device, self.progress = cfg, Path(run_dir), info, device, progress
        t = cfg.train
        torch.manual_seed(t.seed)
        manifest = read_manifest(cfg.data.prepared, cfg.data.protocol, cfg.data.size)
        self.gallery_flash = manifest.gallery_flash
        rows, self.val_subjects = hold_out_subjects(manifest.rows, cfg.data.val_subjects)
        self.rows = rows
        check_identity_recognizer(cfg, manifest)
        mixed = read_mixed(cfg)
        check_mixed_people(manifest, mixed, self.val_subjects)
        self.trained_on = training_record(cfg, manifest, rows, self.val_subjects, mixed)
        # the periodic identity check's gallery and probes: every probe of the validation subjects, else a fixed
        # subsample of test probes (monitoring only)
        self.check_rows = (validation_rows(rows, self.gallery_flash, cfg.data.protocol) if self.val_subjects else rows)
        self.check_per_column = None if self.val_subjects else CHECK_PROBES_PER_YAW
        # a training-only tree (photo pairs: every subject trains) has neither: the check is skipped, not failed
        self.checkable = bool(self.val_subjects) or any(r["split"] == "test" for r in rows)
        self._check_recognizer = None
        self.geometry = cfg.model.geometry != "none"
        augment = paired_augment(cfg.data.size, cfg.data.random_crop, cfg.data.mirror, cfg.data.colour)
        prepared = Path(cfg.data.prepared)
        if cfg.data.profile_folder:
            if self.geometry:
                raise ValueError("model.geometry needs each input's landmarks: an image folder (data.profile_folder) has none")
            self.inputs = ProfileFolder(Path(cfg.data.profile_folder), cfg.data.size, augment)
            self.has_targets = False
        else:
            if self.geometry:  # the mirror is applied by the dataset, which swaps the landmarks with it
                augment = paired_augment(cfg.data.size, cfg.data.random_crop, cfg.data.mirror, cfg.data.colour, landmarks=True)
            def pairs(folder: Path, data: list[dict], gallery_flash: int) -> ProfilePairs:
                return ProfilePairs(folder, data, cfg.data.size, augment, cfg.data.target, cfg.data.max_train_yaw,
                                    gallery_flash, self.geometry, cfg.data.mirror, cfg.data.landmark_noise)

            self.inputs = pairs(prepared, rows, self.gallery_flash)
            self.has_targets = True
        self.frontals = FrontalFaces(prepared, rows, cfg.data.size, augment)
        if mixed is not None:  # its (input, target) pairs and its frontal faces join this run's
            self.inputs = Mixed([self.inputs, pairs(Path(cfg.data.mix), mixed.rows, mixed.gallery_flash)])
            self.frontals = Mixed([self.frontals, FrontalFaces(Path(cfg.data.mix), mixed.rows, cfg.data.size, augment)])
        self.memory_format = torch.channels_last if t.channels_last else torch.contiguous_format
        self.G = build_generator(cfg, self._pretrained_encoder()).to(device, memory_format=self.memory_format)
        self.D = build_critics(cfg).to(device, memory_format=self.memory_format)
        ddp.broadcast_parameters(self.G, info)
        ddp.broadcast_parameters(self.D, info)
        self.identity, self.identity_note = build_identity(cfg, device)
        # torch.compile wraps the generator the phases call; state dicts come from the plain module
        self.phases = FrontalizationLoss(cfg.loss, torch.compile(self.G) if t.compile else self.G, self.D, self.identity)
        self.opt_g = _optimizer(cfg, [p for p in self.G.parameters() if p.requires_grad])
        # the generator that is evaluated, sampled and shipped: an exponential moving average of the trained
        # weights when train.ema > 0 (adversarial training makes single steps' identity swing widely)
        self.G_ema = (AveragedModel(self.G, multi_avg_fn=get_ema_multi_avg_fn(t.ema)) if t.ema > 0 else None)
        self.opt_d = _optimizer(cfg, self.D.parameters())
        self.set_precision(choose_precision(device, t.amp, t.amp_dtype))
        self.step = 0
        self.best = -math.inf
        self.wandb_id = None
        self.samples = self._sample_rows()

    def _pretrained_encoder(self) -> str | None:
        """This run's identity-pretrained encoder (model.pretrain): trained once, reused when the run resumes."""
        cfg = self.cfg
        if cfg.model.encoder_weights or cfg.model.pretrain.steps <= 0:
            return None
        path = self.run_dir / PRETRAINED_ENCODER
        if not path.exists() and self.info.is_main:
            summary = pretrain_encoder(cfg, self.rows, path, self.device, self.progress)
            print(f"encoder pretrained on {summary['subjects']} training subjects ({summary['images']} images, "
                  f"{summary['steps']} steps, {summary['seconds']:.0f} s): training accuracy "
                  f"{summary['train_accuracy_first_tenth']:.2f} -> {summary['train_accuracy_last_tenth']:.2f}")
        ddp.barrier(self.info)
        torch.manual_seed(cfg.train.seed)  # what follows does not depend on how long pretraining ran
        return str(path)

    def set_precision(self, precision: Precision) -> None:
        """Autocast dtype and the two GradScalers (one per optimiser; enabled only for float16)."""
        self.precision = precision
        self.scaler_g, self.scaler_d = precision.scaler(), precision.scaler()

    # ------------------------------------------------------------------ state
    @property
    def G_shipped(self) -> torch.nn.Module:
        return self.G_ema.module if self.G_ema is not None else self.G

    def state(self) -> dict:
        ema = {"generator_ema": self.G_ema.module.state_dict()} if self.G_ema is not None else {}
        return {
            **ema, "generator": ckpt.unwrap(self.G).state_dict(), "critics": ckpt.unwrap(self.D).state_dict(),
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "scaler_g": self.scaler_g.state_dict(), "scaler_d": self.scaler_d.state_dict(),
            "step": self.step, "best": self.best, "rng": ckpt.rng_state(), "config": to_yaml(self.cfg),
            "wandb_id": self.wandb_id or "", "size": self.cfg.data.size, RECORD_KEY: self.trained_on.to_json(),
        }

    def load_state(self, state: dict) -> None:
        self.G.load_state_dict(state["generator"])
        if self.G_ema is not None:
            if "generator_ema" not in state:
                raise ValueError("train.ema is set but the checkpoint has no averaged generator: resume with train.ema=0")
            self.G_ema.module.load_state_dict(state["generator_ema"])
            self.G_ema.n_averaged.fill_(max(1, state["step"]))  # later updates average, never re-copy
        self.D.load_state_dict(state["critics"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.scaler_g.load_state_dict(state["scaler_g"])
        self.scaler_d.load_state_dict(state["scaler_d"])
        self.step, self.best = state["step"], state["best"]
        self.wandb_id = state["wandb_id"] or None
        ckpt.set_rng_state(state["rng"])

    def save(self, best: bool = False) -> Path | None:
        if not self.info.is_main:
            return None
        path = ckpt.step_path(self.run_dir / "checkpoints", self.step)
        state = self.state()
        ckpt.save(path, state)
        ckpt.prune(self.run_dir / "checkpoints", self.cfg.train.keep_last)
        if best:
            ckpt.save(self.run_dir / "checkpoints" / "best.pt", state)
        return path

    # ------------------------------------------------------------------- data
    def _loader(self, dataset, start_step: int, steps: int, stream: int) -> DataLoader:
        sampler = StepBatches(len(dataset), self.cfg.train.batch_size, self.cfg.train.seed, start_step, steps,
                              self.info.rank, self.info.world, stream)
        workers = self.cfg.data.workers
        # its own generator: a DataLoader otherwise draws its seed from the global RNG, and a resumed run
        # (which creates its loaders after restoring that RNG) would then drift from the uninterrupted one
        own = torch.Generator().manual_seed(self.cfg.train.seed * 131 + stream)
        return DataLoader(dataset, batch_sampler=sampler, num_workers=workers, persistent_workers=False, generator=own,
                          pin_memory=self.device.type == "cuda", prefetch_factor=2 if workers else None)

    def _sample_rows(self) -> list[dict]:
        """One test probe per yaw (under the gallery flash where there is one) for the sample grids; a training-only
        tree (photo pairs) has no test split, so its grids show training inputs."""
        split = "test" if any(r["split"] == "test" for r in self.rows) else "train"
        picked: dict[int, dict] = {}
        light = str(self.gallery_flash)
        for r in self.rows:
            if r["split"] == split and r["role"] == ("probe" if split == "test" else "train") and r["target_path"]:
                yaw = int(r["yaw"])
                if CAMERA_BY_NAME[r["camera"]].elevation == 0 and (yaw not in picked or r["flash"] == light and picked[yaw]["flash"] != light):
                    picked[yaw] = r
        return [picked[y] for y in sorted(picked)]

    # ------------------------------------------------------------------- loop
    def train(self, tracker: Tracker) -> dict:
        cfg, t = self.cfg, self.cfg.train
        n_critic = cfg.optim.critic_iters
        remaining = t.steps - self.step
        if remaining <= 0:
            return {"step": self.step, "note": "already finished"}
        # critic iteration k of step s uses sub-step s * n_critic + k of both data streams
        inputs = iter(self._loader(self.inputs, self.step * n_critic, remaining * n_critic, stream=0))
        reals = iter(self._loader(self.frontals, self.step * n_critic, remaining * n_critic, stream=1))
        t_last, steps_since = time.perf_counter(), 0
        bar = tqdm(total=t.steps, initial=self.step, unit="step", desc=f"GAN {self.cfg.setting}",
                   disable=not (self.progress and self.info.is_main))
        while self.step < t.steps:
            batches = []
            for _ in range(n_critic):
                profile, target, _, pose = next(inputs)
                batches.append((profile, target, next(reals), pose))
            terms = self.train_step(batches)
            steps_since += 1
            bar.update(1)
            if self.step % t.log_every == 0 or self.step == t.steps:
                now = time.perf_counter()
                scalars = {k: float(v) for k, v in terms.items()}
                images = steps_since * profile.shape[0] * self.info.world * n_critic
                scalars.update(lr=self.opt_g.param_groups[0]["lr"], step_s=(now - t_last) / steps_since,
                               images_per_s=images / max(now - t_last, 1e-9))
                t_last, steps_since = now, 0
                if self.info.is_main:
                    tracker.log(self.step, scalars)
                    bar.set_postfix(g=f"{scalars['generator_total']:.3f}", d=f"{scalars.get('critic_total', 0):.3f}")
            if self.info.is_main and (self.step % t.sample_every == 0 or self.step == t.steps):
                grid = self.write_samples()
                tracker.log_images(self.step, {"samples": grid})
            improved = False
            if self.step % t.eval_every == 0 or self.step == t.steps:
                improved = self.evaluate(tracker)
            if self.step % t.checkpoint_every == 0 or self.step == t.steps or improved:
                path = self.save(best=improved)
                if path is not None and self.step == t.steps:
                    tracker.log_artifact(path, f"{self.run_dir.name}-generator")
        bar.close()
        return {"step": self.step, "best": self.best}

    def train_step(self, batches: list[tuple[torch.Tensor, ...]]) -> dict[str, torch.Tensor]:
        """One step: a critic update per (profile, target, real frontal, pose) batch, then one generator update on
        the last batch's profiles.  Returns the step's loss terms and gradient norms (tensors: no device sync).
        Stops with NonFiniteLoss, naming the term, when any of them is NaN or infinite."""
        self.G.train()
        self.D.train()
        clip = self.phases.adversarial.clip
        critic = {}
        for profile, target, real, pose in batches:
            profile, target, real = (x.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)
                                     for x in (profile, target, real))
            pose = pose.to(self.device, non_blocking=True) if self.geometry else None
            if not self.cfg.loss.gan:  # no adversarial term: the critics have nothing to teach, so they are not trained
                continue
            self.opt_d.zero_grad(set_to_none=True)
            with self.precision.autocast():
                d_loss, d_terms = self.phases.critic_phase(profile, real, float32_penalty=self.precision.needs_scaler,
                                                           pose=pose)
            ckpt.check_finite(self.step + 1, {**d_terms, "critic_total": d_loss})
            d_norm = self._update(d_loss, self.D, self.opt_d, self.scaler_d)
            if clip:
                clip_weights(self.D, clip)
            critic = {**d_terms, "critic_total": d_loss, "grad_norm_critics": d_norm}
        self.opt_g.zero_grad(set_to_none=True)
        with self.precision.autocast():
            g_loss, g_terms, _ = self.phases.generator_phase(profile, target if self.has_targets else None, pose)
        ckpt.check_finite(self.step + 1, {**g_terms, "generator_total": g_loss})
        g_norm = self._update(g_loss, self.G, self.opt_g, self.scaler_g)
        if self.G_ema is not None:
            self.G_ema.update_parameters(self.G)
        self.step += 1
        return {**{k: v.detach() for k, v in {**critic, **g_terms}.items()}, "generator_total": g_loss.detach(),
                "grad_norm_generator": g_norm}

    def _update(self, loss, module, optimizer, scaler) -> torch.Tensor:
        """Backward, average gradients across processes, step; returns the gradient norm before the step."""
        scaler.scale(loss).backward()
        ddp.average_gradients(module, self.info)
        scaler.unscale_(optimizer)
        norm = grad_norm(module)
        scaler.step(optimizer)
        scaler.update()
        return norm

    # ------------------------------------------------------------- outputs
    @torch.no_grad()
    def write_samples(self) -> Path:
        """input | outputs at S/4, S/2, S (upsized) | target, one row per yaw."""
        G = self.G_shipped
        G.eval()
        prepared = Path(self.cfg.data.prepared)
        size = self.cfg.data.size
        rows = []
        for r in self.samples:
            x = load_batch(prepared, [r["crop_path"]], size, self.device)
            outs = G(x, torch.from_numpy(row_poses([r], size)).to(self.device) if self.geometry else None)
            tiles = [x] + [torch.nn.functional.interpolate(o, size=(size, size), mode="nearest") for o in outs]
            tiles.append(load_batch(prepared, [r["target_path"]], size, self.device))
            rows.append(torch.cat(tiles, dim=3))
        path = self.run_dir / "samples" / f"step_{self.step:08d}.png"
        write_png(path, to_uint8(torch.cat(rows, dim=2)[0]))
        G.train()
        return path

    def identity_check(self) -> dict:
        if self._check_recognizer is None:
            self._check_recognizer = Recognizer.load(self.cfg.loss.recognizer).to(self.device)
        return periodic_identity_check(self.G_shipped, self._check_recognizer, self.check_rows, Path(self.cfg.data.prepared),
                                       self.cfg.data.size, self.device, self.gallery_flash, self.cfg.data.protocol,
                                       per_yaw=self.check_per_column)

    def validation_summary(self) -> dict:
        """Which identities and how many probes the periodic check scores (the run's header, summary.json)."""
        probes = [r for r in self.check_rows if r["split"] == "test" and r["role"] == "probe"]
        if self.val_subjects:
            return {"subjects": sorted(self.val_subjects), "probes": len(probes), "chooses_best": True}
        return {"subjects": [], "probes": None, "chooses_best": False,
                "monitoring": (f"at most {CHECK_PROBES_PER_YAW} test probes per column" if self.checkable else
                               "none: this data has no test split (a training-only tree), so no periodic check runs")}

    def evaluate(self, tracker: Tracker) -> bool:
        """Periodic identity check with the shared recognizer, when one is configured (rank 0 only).

        On held-out validation subjects it also picks ``best.pt``; on test probes (no subjects held
        out) it only monitors, so that no reported figure is chosen on the test set.
        """
        improved = False
        if self.info.is_main and self.checkable and self.cfg.loss.recognizer and Path(self.cfg.loss.recognizer).exists():
            on = "val" if self.val_subjects else "test"
            table = self.identity_check()
            mean_front = float(np.mean([v["frontalized"] for k, v in table.items() if k != ALL_COLUMN]))
            tracker.log(self.step, {f"{on}/rank1_raw": table[ALL_COLUMN]["raw"],
                                    f"{on}/rank1_frontalized": table[ALL_COLUMN]["frontalized"],
                                    **{f"{on}/rank1_frontalized_yaw{column_tag(k)}": v["frontalized"]
                                       for k, v in table.items() if k != ALL_COLUMN}})
            tracker.log_table(self.step, f"{on}/rank1_by_yaw", ["yaw", "raw", "frontalized"],
                              [[str(k), v["raw"], v["frontalized"]] for k, v in table.items()])
            atomic_write_text(self.run_dir / "eval" / f"rank1_{on}_step_{self.step:08d}.json", json.dumps(table, indent=1))
            # ties go to the later step: the shipped moving average has then seen more training
            if self.val_subjects and mean_front >= self.best:
                self.best, improved = mean_front, True
        if self.info.active:  # every rank must agree on whether a best checkpoint is written
            flag = torch.tensor([int(improved)])
            torch.distributed.broadcast(flag, src=0)
            improved = bool(flag.item())
        return improved


def periodic_identity_check(generator: torch.nn.Module, recognizer, rows: list[dict], prepared: Path, size: int,
                            device, gallery_flash: int, protocol: str, per_yaw: int | None = CHECK_PROBES_PER_YAW) -> dict:
    """Rank-1 of raw, frontalized and fused probes (and target quality), on every probe or a fixed subsample per column."""
    was_training = generator.training
    generator.eval()
    try:
        shared = Scorer("", recognizer)
        quality = TargetQuality(shared, prepared, size, device, gallery_flash=gallery_flash, keep_samples=False)
        return identify(rows, prepared, size, device, [shared], protocol, views={"frontalized": generator_view(generator)},
                        fusions={"fused": ("raw", "frontalized")}, observers=(quality,), per_yaw=per_yaw)["table"]
    finally:
        generator.train(was_training)


def truncate_metrics(run_dir: Path, step: int) -> None:
    """After a resume, drop the lines a crashed run logged past its last checkpoint."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return
    keep = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line).get("step", 0) <= step]
    atomic_write_text(path, "\n".join(keep) + ("\n" if keep else ""))


def config_dict(cfg: Config) -> dict:
    return asdict(cfg)

"""Experiment tracking: W&B when it can run, and always a local metrics.jsonl, so nothing is lost without it.

Mode: the config's ``wandb.mode``; ``auto`` means online when credentials exist (WANDB_API_KEY or a
netrc entry for api.wandb.ai), otherwise offline.  A WANDB_MODE environment variable wins (tests set
``disabled``).  wandb.init always gets an init timeout: online mode without network would hang.
"""
from __future__ import annotations

import json
import netrc
import os
import time
from pathlib import Path


def has_wandb_credentials() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def resolve_mode(mode: str) -> str:
    env = os.environ.get("WANDB_MODE")
    if env:
        return "disabled" if env in ("disabled", "dryrun-disabled") else env
    if mode == "auto":
        return "online" if has_wandb_credentials() else "offline"
    return mode


class Tracker:
    """Scalars to W&B and metrics.jsonl; images and tables to W&B (the caller writes PNGs itself)."""

    def __init__(self, run_dir: Path, project: str, group: str, name: str, mode: str, config: dict,
                 init_timeout: int = 60, run_id: str | None = None, enabled: bool = True):
        self.run_dir = Path(run_dir)
        self.metrics_path = self.run_dir / "metrics.jsonl"
        self.mode = resolve_mode(mode) if enabled else "disabled"
        self.run = None
        if self.mode != "disabled":
            import wandb

            os.environ.setdefault("WANDB_SILENT", "true")
            self.run = wandb.init(
                project=project, group=group, name=name, dir=str(self.run_dir), config=config, mode=self.mode,
                id=run_id, resume="allow", settings=wandb.Settings(init_timeout=init_timeout),
            )
        self.enabled = enabled

    @property
    def run_id(self) -> str | None:
        return self.run.id if self.run is not None else None

    def log(self, step: int, scalars: dict) -> None:
        if not self.enabled:
            return
        clean = {k: (float(v) if hasattr(v, "__float__") else v) for k, v in scalars.items()}
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps({"step": step, "time": round(time.time(), 3), **clean}) + "\n")
        if self.run is not None:
            self.run.log(clean, step=step)

    def log_images(self, step: int, images: dict[str, Path]) -> None:
        if self.run is not None:
            import wandb

            self.run.log({k: wandb.Image(str(p)) for k, p in images.items()}, step=step)

    def log_table(self, step: int, key: str, columns: list[str], rows: list[list]) -> None:
        """W&B tables need one type per column: keep row labels (yaw or "all") as text."""
        if self.run is not None:
            rows = [[str(r[0]), *r[1:]] for r in rows]
            import wandb

            self.run.log({key: wandb.Table(columns=columns, data=rows)}, step=step)

    def log_artifact(self, path: Path, name: str, kind: str = "model") -> None:
        if self.run is not None and self.mode == "online":
            import wandb

            art = wandb.Artifact(name, type=kind)
            art.add_file(str(path))
            self.run.log_artifact(art)

    def finish(self) -> None:
        if self.run is not None:
            self.run.finish()
            self.run = None

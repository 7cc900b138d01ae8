"""Multi-process training under torchrun, set up in main() (never at import).

Gradients are averaged across processes with all_reduce after each backward, which is what
DistributedDataParallel's reducer does; it is done explicitly because the WGAN-GP critic step
differentiates through the critics twice (create_graph=True), which DDP's hooks do not support.
Parameters start identical (broadcast from rank 0) and every rank applies the same averaged update,
so the replicas stay identical; ``replica_digests`` checks that at the end of a run.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def setup(device_type: str) -> DistInfo:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    backend = "nccl" if device_type == "cuda" else "gloo"
    dist.init_process_group(backend=backend)
    info = DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    if device_type == "cuda":
        torch.cuda.set_device(info.local_rank)
    return info


def teardown(info: DistInfo) -> None:
    if info.active and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.active:
        dist.barrier()


def broadcast_parameters(module: torch.nn.Module, info: DistInfo) -> None:
    if info.active:
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, src=0)


def average_gradients(module: torch.nn.Module, info: DistInfo) -> None:
    if not info.active:
        return
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return
    flat = _flatten_dense_tensors(grads)
    dist.all_reduce(flat)
    flat /= info.world
    for g, synced in zip(grads, _unflatten_dense_tensors(flat, grads)):
        g.copy_(synced)


def digest(module: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def replica_digests(modules: dict, info: DistInfo) -> dict[str, list[str]]:
    """Each network's weight digest on every rank (identical lists mean the replicas agree)."""
    mine = {name: digest(m) for name, m in modules.items()}
    if not info.active:
        return {k: [v] for k, v in mine.items()}
    everyone = [None] * info.world
    dist.all_gather_object(everyone, mine)
    return {k: [d[k] for d in everyone] for k in mine}

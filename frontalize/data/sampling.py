"""Batches as a pure function of (seed, step): the same run always sees the same images in the same order.

``StepBatches`` draws the indices of step k from a permutation seeded by (seed, epoch) and hands each
sample its own augmentation seed, which the dataset passes to its augmentation before using it.  A run
resumed at step k therefore sees exactly the batches an uninterrupted run would have seen, whatever
the number of loader workers (a worker's own random state never decides anything).  Under torchrun
each rank takes its own share of every global batch.
"""
from __future__ import annotations

import torch
from torch.utils.data import Sampler


class StepBatches(Sampler):
    """Yields, for steps start, start+1, ..., the (index, augmentation seed) pairs of this rank's share."""

    def __init__(self, n: int, batch_size: int, seed: int, start_step: int = 0, steps: int | None = None,
                 rank: int = 0, world: int = 1, stream: int = 0):
        if batch_size % world:
            raise ValueError(f"batch size {batch_size} is not divisible by {world} processes")
        self.n, self.batch, self.seed, self.start, self.steps = n, batch_size, seed, start_step, steps
        self.rank, self.world, self.stream = rank, world, stream
        self._perm_epoch, self._perm = -1, None

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._perm_epoch:
            g = torch.Generator().manual_seed(self.seed * 7919 + epoch * 31 + self.stream)
            self._perm_epoch, self._perm = epoch, torch.randperm(self.n, generator=g)
        return self._perm

    def batch_at(self, step: int) -> list[tuple[int, int]]:
        first = step * self.batch
        out = []
        for k in range(first, first + self.batch):
            epoch, pos = divmod(k, self.n)
            out.append((int(self._permutation(epoch)[pos]), (self.seed * 1_000_003 + k * 97 + self.stream) % (2**31)))
        return out[self.rank :: self.world]

    def __iter__(self):
        step = self.start
        while self.steps is None or step < self.start + self.steps:
            yield self.batch_at(step)
            step += 1

    def __len__(self):
        return self.steps if self.steps is not None else 2**62

#!/usr/bin/env python
"""Train a frontalization GAN: `python scripts/train_gan.py --setting 1_4 [--cpu|--paper] [--resume] [key=value ...]`.

Several GPUs: `torchrun --nproc_per_node N scripts/train_gan.py --setting 1_4 --paper`.
"""
import os
import sys

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
from frontalize.cli.train import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())

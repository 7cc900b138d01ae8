#!/usr/bin/env python
"""Train the shared recognizer: `python scripts/train_recognizer.py --config configs/recognizer_synthpie.yaml [key=value ...]`."""
import os
import sys

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
from frontalize.cli.train_recognizer import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())

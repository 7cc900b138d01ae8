#!/usr/bin/env python
"""The identity report: `python scripts/evaluate.py --checkpoint C --protocol setting1` (same as `frontalize eval`)."""
import os
import sys

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
from frontalize.cli.evaluate import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())

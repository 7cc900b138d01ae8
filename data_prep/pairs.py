#!/usr/bin/env python
"""Render a Multi-PIE-layout tree from frontal face photos (one subject per photo, 13 head-height views).

    python data_prep/pairs.py --photos my_photos/ --out runs/pairs
    python data_prep/multipie.py --root runs/pairs --out runs/pairs_prepared --size 128 --protocols setting1 session01
"""
import sys

from frontalize.cli.pairs import main

if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Prepare CMU Multi-PIE (or SynthPIE) for training and evaluation.

    python data_prep/multipie.py --root /data/Multi-PIE --out prepared --size 224
    python data_prep/multipie.py            # SynthPIE `small`, 128 px, into runs/demo/prepared
"""
import sys

from frontalize.cli.prep import main

if __name__ == "__main__":
    sys.exit(main())

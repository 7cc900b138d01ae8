#!/usr/bin/env python
"""Write SynthPIE, the synthetic dataset in the exact Multi-PIE layout.

    python data_prep/synthpie.py --preset small --out runs/demo/synthpie
"""
import sys

from frontalize.cli.synthpie import main

if __name__ == "__main__":
    sys.exit(main())

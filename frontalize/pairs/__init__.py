"""Training pairs from single photographs (``frontalize pairs``): each frontal photo turned to Multi-PIE's head-height
cameras with the reference head (geometry/turn.py), written as a Multi-PIE-layout tree whose frontal targets are the
real photographs (tree.py; its marker and masks: data/pairs_tree.py)."""

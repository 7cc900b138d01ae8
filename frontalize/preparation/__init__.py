"""Preparing a Multi-PIE tree (real or SynthPIE): landmarks, aligned crops, poses, protocol manifests, preview."""

"""Geometry: a 3D reference face in template coordinates, pose from landmarks, and the differentiable frontal warp
that carries an input's own pixels (or feature maps) to the frontal layout (after Hassner et al., CVPR 2015, and
FFWM's flow-guided feature warping); oracle.py: SynthPIE's true pose and each subject's own head, for measuring what
the warp loses (bench/warp_losses.py)."""

"""The VideoLights model: one file per paper component, the losses, the matcher and checkpoints.

    model = build_model(opt)                        # videolights.py
    criterion = build_criterion(opt, moments=True)  # criterion.py (matcher.py)

Modules here import torch, scipy and video_lights.utils only (tests/test_architecture.py checks it): no data,
engine or command-line code.
"""
from video_lights.model.criterion import SetCriterion, build_criterion
from video_lights.model.videolights import VideoLights, build_model, input_dims

__all__ = ["VideoLights", "SetCriterion", "build_model", "build_criterion", "input_dims"]

"""Run VideoLights on one's own videos (any length): `Predictor` (predictor.py), long-video windows
(long_video.py) and the command line `python -m video_lights.predict` (__main__.py)."""
from video_lights.predict.predictor import Prediction, Predictor, QueryFeatures, VideoFeatures

__all__ = ["Predictor", "Prediction", "VideoFeatures", "QueryFeatures"]

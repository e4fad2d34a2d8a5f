"""VideoLights: joint video moment retrieval and highlight detection (arXiv 2412.01558)."""
__version__ = "0.1.0"

"""The engine: one training epoch (training.py), evaluation and scoring (evaluation.py), post-processing of
predictions (postprocessing.py), mixed precision (precision.py) and the training loop in steps (trainer.py)."""

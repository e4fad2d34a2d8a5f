"""Small random features, in the released file layout, for real annotation rows (the released features are not
available here): one `{vid}.npz` (key "features") per video and feature folder, one text file per query."""
import math
from pathlib import Path

import numpy as np


def write_random_features(root, rows, video, text, n_rows, text_stem=str, text_key="last_hidden_state", seed=0):
    """video / text: {folder name under root: dim}; n_rows(row) -> clips of the row's video; text_stem(qid) ->
    the text file's stem. Returns root."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    for name, dim in video.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for r in {r["vid"]: r for r in rows}.values():
            np.savez(root / name / f"{r['vid']}.npz", features=rng.normal(size=(n_rows(r), dim)).astype(np.float32))
    for name, dim in text.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for r in rows:
            x = rng.normal(size=(int(rng.integers(4, 12)), dim)).astype(np.float32)
            np.savez(root / name / f"{text_stem(r['qid'])}.npz", **{text_key: x})
    return root


def clips_of(clip_length):
    """n_rows for videos cut into clips of clip_length seconds (the last one partial)."""
    return lambda row: math.ceil(row["duration"] / clip_length)

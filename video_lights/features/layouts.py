"""Where extracted features go: the directory names, file names, npz keys and dtypes that the presets read.

Per dataset (its spec gives the clip length, the text file name and key) the authors' directory names:

    dataset        SlowFast           CLIP           BLIP-2               CLIP text            BLIP-2 text
    qvhighlights   slowfast_features  clip_features  blip_video_features  clip_text_features   blip_aug_text_features_openai
    charades_sta   slowfast_features  clip_features  blip_video_features  clip_text_features   blip_text_features
    tvsum          sf_features        clip_features  video_features_blip  query_features       query_features_blip
    pretrain_*     slowfast_features  clip_features  blip_video_features  clip_query_features  blip_query_features

Any other dataset (a spec file) uses the QVHighlights names. Video files are `{vid}.npz` with key "features";
text files are the spec's `text_file` ({qid} replaced) with the spec's `text_key` and, for "last_hidden_state"
layouts, the "pooler_output" too. SlowFast and CLIP are written as float16 (HERO / Moment-DETR's release), BLIP-2
as float32 (the authors' BLIP-2 scripts).
"""
import os

import numpy as np

from video_lights.data.specs import DatasetSpec

VIDEO_EXTRACTORS = ("slowfast", "clip", "blip2")
TEXT_EXTRACTORS = ("clip", "blip2")
DTYPES = {"slowfast": np.float16, "clip": np.float16, "blip2": np.float32}

_QVHL = {"slowfast": "slowfast_features", "clip": "clip_features", "blip2": "blip_video_features",
         "clip_text": "clip_text_features", "blip2_text": "blip_aug_text_features_openai"}
_PRETRAIN = dict(_QVHL, clip_text="clip_query_features", blip2_text="blip_query_features")
FEATURE_DIRS = {
    "qvhighlights": _QVHL,
    "charades_sta": dict(_QVHL, blip2_text="blip_text_features"),
    "tvsum": {"slowfast": "sf_features", "clip": "clip_features", "blip2": "video_features_blip",
              "clip_text": "query_features", "blip2_text": "query_features_blip"},
    "pretrain_captions": _PRETRAIN,
    "asr_pretrain": dict(_PRETRAIN, clip_text="clip_sub_features"),
}


class Layout:
    """The output files of one extraction run under `root` for a dataset spec."""

    def __init__(self, root, spec: DatasetSpec):
        self.root, self.spec = root, spec
        self.dirs = FEATURE_DIRS.get(spec.name, _QVHL)

    def video_path(self, extractor, vid):
        return os.path.join(self.root, self.dirs[extractor], f"{vid}.npz")

    def text_path(self, extractor, qid):
        return os.path.join(self.root, self.dirs[f"{extractor}_text"], f"{self.spec.text_stem(qid)}.npz")

    def video_arrays(self, extractor, features):
        """{npz key: array} of one video's rows (n, D) for `extractor`."""
        return {"features": np.asarray(features, dtype=DTYPES[extractor])}

    def text_arrays(self, extractor, text):
        """{npz key: array} of one query: text = {"last_hidden_state": (L, D), "pooler_output": (D,)}."""
        dtype = DTYPES[extractor]
        if self.spec.text_key != "last_hidden_state":  # TVSum: the token rows alone, under the spec's key
            return {self.spec.text_key: np.asarray(text["last_hidden_state"], dtype=dtype)}
        return {"last_hidden_state": np.asarray(text["last_hidden_state"], dtype=dtype),
                "pooler_output": np.asarray(text["pooler_output"], dtype=dtype)}

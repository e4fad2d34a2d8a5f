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
import sys
import zipfile

import numpy as np

from video_lights.data.specs import DatasetSpec
from video_lights.utils.cli import UserError
from video_lights.utils.io import remove_stale_tmp

VIDEO_EXTRACTORS = ("slowfast", "clip", "blip2")
TEXT_EXTRACTORS = ("clip", "blip2")
# the released extractors: Hugging Face hub ids (SlowFast: the converted .pkl, features/convert_slowfast.py)
DEFAULT_MODELS = {"clip": "openai/clip-vit-base-patch32", "blip2": "Salesforce/blip2-itm-vit-g",
                  # and the BLIP-1 models of the synthetic pretraining captions (features/blip.py)
                  "blip_captioner": "Salesforce/blip-image-captioning-large",
                  "blip_itm": "Salesforce/blip-itm-base-coco"}
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

# folder name -> the extractor that writes it (what a checkpoint's --v_feat_dirs / --t_feat_dirs need)
VIDEO_FOLDERS = {d: k for dirs in FEATURE_DIRS.values() for k, d in dirs.items() if k in VIDEO_EXTRACTORS}
TEXT_FOLDERS = {d: k[:-len("_text")] for dirs in FEATURE_DIRS.values() for k, d in dirs.items() if k.endswith("_text")}
# widths of the released extractors' rows (SlowFast [slow 2048 | fast 256], CLIP ViT-B/32, BLIP-2 Q-Former)
RELEASED_DIMS = {"video": {"slowfast": 2304, "clip": 512, "blip2": 768}, "text": {"clip": 512, "blip2": 768}}


class FeatureTypeError(UserError):
    """A model reads a feature folder that no extractor here computes (e.g. TVSum's I3D video_features)."""


def folder_name(path) -> str:
    """The feature folder's name: the basename of a folder or packed store, without .h5 / .hdf5."""
    name = os.path.basename(os.path.normpath(str(path)))
    for ext in (".h5", ".hdf5"):
        if name.endswith(ext):
            name = name[:-len(ext)]
    return name


def feature_types(opt, source="checkpoint") -> tuple:
    """(video types, text types) a model reads, in its order: e.g. (["slowfast", "clip", "blip2"], ["clip",
    "blip2"]) from its --v_feat_dirs / --t_feat_dirs. FeatureTypeError naming a folder no extractor computes."""
    if "video" not in opt.ctx_mode:
        raise FeatureTypeError(f"{source}: ctx_mode {opt.ctx_mode!r} reads no video features; nothing to predict from")
    out = []
    for what, dirs, table in (("video", opt.v_feat_dirs, VIDEO_FOLDERS), ("text", opt.t_feat_dirs, TEXT_FOLDERS)):
        names = [folder_name(d) for d in dirs]
        unknown = [n for n in names if n not in table]
        if unknown:
            raise FeatureTypeError(f"{source}: the model reads {what} features {unknown[0]!r}, which this install "
                                   f"cannot compute (it computes {', '.join(sorted(table))})")
        out.append([table[n] for n in names])
    return tuple(out)


def extractor_ids(names, overrides=None, saved=None) -> dict:
    """{extractor: weights id} for `names`: the override, else the id saved with an export, else the released one
    (DEFAULT_MODELS; SlowFast: None = the converter's default file)."""
    overrides, saved = overrides or {}, saved or {}
    return {n: overrides.get(n) or saved.get(n) or DEFAULT_MODELS.get(n) for n in names}


def npz_problem(path, expected):
    """Why the feature file `path` is damaged, or None. expected = {key: (dtype, ndim)}: exactly these keys, each a
    non-empty array of that dtype and number of dimensions; every array is read in full, so the zip's CRCs check
    the bytes (a truncated copy or a torn write fails here)."""
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"PK\x03\x04":
                return f"not an npz (zip) archive, {os.path.getsize(path)} bytes"
        with np.load(path, allow_pickle=False) as z:
            if sorted(z.files) != sorted(expected):
                return f"keys {sorted(z.files)}, expected {sorted(expected)}"
            for key, (dtype, ndim) in expected.items():
                a = z[key]
                if a.dtype != dtype or a.ndim != ndim or not a.size:
                    return f"{key}: {a.dtype} of shape {a.shape}, expected non-empty {np.dtype(dtype)} of {ndim} dims"
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        return f"unreadable: {e}"
    return None


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

    def unfinished_videos(self, names, videos):
        """The (vid, path) of `videos` whose file of some extractor of `names` is missing or damaged."""
        return self._unfinished(self.video_path, lambda n: self.video_arrays(n, np.zeros((1, 1))), names, videos)

    def unfinished_queries(self, names, queries):
        """The (qid, query) of `queries` whose text file of some extractor of `names` is missing or damaged."""
        dummy = {"last_hidden_state": np.zeros((1, 1)), "pooler_output": np.zeros(1)}
        return self._unfinished(self.text_path, lambda n: self.text_arrays(n, dummy), names, queries)

    def _unfinished(self, path_of, arrays_of, names, items):
        """The items (id, x) with a missing or damaged file (each damaged one named on stderr, to be written again).
        The temporary files that a killed write of these files left are removed first (only these: other ranks
        write their own shares into the same folders)."""
        bad = set()
        for n in names:
            expected = {k: (a.dtype, a.ndim) for k, a in arrays_of(n).items()}  # what a finished file holds
            paths = {i: path_of(n, i) for i, _ in items}
            remove_stale_tmp(paths.values())
            for i, path in paths.items():
                if not os.path.isfile(path):
                    bad.add(i)
                elif reason := npz_problem(path, expected):
                    print(f"{path}: damaged ({reason}); extracting it again", file=sys.stderr, flush=True)
                    bad.add(i)
        return [(i, x) for i, x in items if i in bad]

"""The moment-retrieval / highlight-detection dataset (reference `StartEndDataset`, spec §4).

dataset[i] -> {"meta": the annotation row (dict, never modified),
               "model_inputs": {
                   "query_feat":  float32 (Lq, Dt)  per feature type: [:max_q_l], L2 rows; types cut to the shortest
                                                    and concatenated in t_feat_dirs order
                   "video_feat":  float32 (Lv, Dv)  per type: [:max_v_l], L2 rows; cut to the shortest, concatenated
                                                    in v_feat_dirs order, then tef [i/Lv, i/Lv + 1/Lv] appended
                   with labels:
                   "span_labels": float32 (n, 2)    normalised (center, width), n <= max_windows
                   "saliency_pos_labels", "saliency_neg_labels": list[int] (2 for hl / binary kinds, 1 for tvsum)
                   "saliency_all_labels": float64 (Lv,)}}
Label kinds: "hl" (QVHighlights 3-rater scores), "sub_as_query" (binary, from the first window: Charades-STA,
TACoS, and any path containing "pre_train" or "subs_train"), "tvsum" (20-annotator scores, dummy span).
"""
import os

import numpy as np
import torch
from torch.utils.data import Dataset

from video_lights.data import labels as L
from video_lights.data.features import l2_normalize, open_store
from video_lights.data.validate import DataError, MissingStoreError, check_feature_array, missing_message, read_jsonl, validate_row

I3D_MARKERS = ("sf_features", "clip_features", "blip")  # tvsum: a dir lacking all of these holds I3D rgb+opt


def label_kind(dset_name, data_path):
    """Which saliency labels the reference computes for this dataset / annotation file."""
    if dset_name == "tvsum":
        return "tvsum"
    if dset_name in ("charadesSTA", "tacos") or "pre_train" in data_path or "subs_train" in data_path:
        return "sub_as_query"
    return "hl"


class StartEndDataset(Dataset):
    """Annotation rows + feature stores -> per-item model inputs and targets (see the module docstring).

    Args (plain values; build_dataset reads them from opt):
        dset_name: hl | charadesSTA | tacos | tvsum.  data_path: annotation jsonl.
        v_feat_dirs / t_feat_dirs: feature folders or packed .h5 stores.  v_feat_dim / t_feat_dim: expected
        concatenated dims WITHOUT tef (None = not checked).  max_q_l, max_v_l (-1 = no limit), clip_length,
        max_windows, use_tef, use_video, normalize (L2 rows of video and text), data_ratio, dset_domain (tvsum),
        load_labels, cache (keep processed features in memory), check_files (list the stores once and fail
        early on missing files), skip_invalid (collect annotation / missing-file errors in self.errors and drop
        invalid rows instead of raising; used by the check command).
    """

    def __init__(self, dset_name, data_path, v_feat_dirs, t_feat_dirs, v_feat_dim=None, t_feat_dim=None,
                 max_q_l=32, max_v_l=75, clip_length=2, max_windows=5, use_tef=True, use_video=True,
                 normalize=True, data_ratio=1.0, dset_domain=None, load_labels=True, cache=False, check_files=True,
                 skip_invalid=False):
        self.dset_name = dset_name
        self.data_path = data_path
        self.max_q_l, self.max_v_l = max_q_l, max_v_l
        self.clip_length, self.max_windows = clip_length, max_windows
        self.use_tef, self.use_video, self.normalize = use_tef, use_video, normalize
        self.v_feat_dim, self.t_feat_dim = v_feat_dim, t_feat_dim
        self.load_labels = load_labels
        self.kind = label_kind(dset_name, data_path)
        self.v_stores = [open_store(d) for d in v_feat_dirs] if use_video else []  # a missing store stops at once
        self.t_stores = [open_store(d) for d in t_feat_dirs]
        rows = read_jsonl(data_path)
        self.v_i3d = [self.kind == "tvsum" and not any(m in os.path.basename(os.path.normpath(d)) for m in I3D_MARKERS)
                      for d in v_feat_dirs] if use_video else []
        self.cache = {} if cache else None

        if data_ratio != 1:
            rows = rows[:int(len(rows) * data_ratio)]
        if self.kind == "tvsum" and dset_domain is not None:
            rows = [(n, r) for n, r in rows if r.get("domain") == dset_domain]  # reference: after data_ratio
            if not rows:
                raise DataError(f"{data_path}: no rows with domain '{dset_domain}'")
        self.errors = []
        kept = []
        for lineno, row in rows:
            try:
                validate_row(row, f"{data_path}:{lineno}", self.kind, load_labels, clip_length)
            except DataError as e:
                if not skip_invalid:
                    raise
                self.errors.append(str(e))
                continue
            kept.append((lineno, row))
        self.lines = [n for n, _ in kept]
        self.data = [r for _, r in kept]
        if check_files:
            missing = self.missing_feature_files()
            if missing and not skip_invalid:
                raise DataError(missing[0])
            self.errors += missing

    # ---- feature file names
    def _video_stems(self, i, vid):
        return [f"{vid}_rgb", f"{vid}_opt"] if self.v_i3d[i] else [vid]

    def _text_stem(self, qid):
        return str(qid) if self.dset_name in ("tvsum", "tacos") else f"qid{qid}"

    def missing_feature_files(self):
        """One message per store naming the count and the first few missing feature files (empty if none)."""
        msgs = []
        vids = list(dict.fromkeys(r["vid"] for r in self.data))
        for i, store in enumerate(self.v_stores):
            need = [s for v in vids for s in self._video_stems(i, v)]
            missing = [s for s in need if s not in store.names()]
            if missing:
                msgs.append(missing_message(store.path, missing, len(need), "video"))
        qids = list(dict.fromkeys(self._text_stem(r["qid"]) for r in self.data))
        for store in self.t_stores:
            missing = [s for s in qids if s not in store.names()]
            if missing:
                msgs.append(missing_message(store.path, missing, len(qids), "text"))
        return msgs

    def has_feature_files(self, index):
        """Whether every feature file of row `index` exists."""
        row = self.data[index]
        return (all(s in st.names() for i, st in enumerate(self.v_stores) for s in self._video_stems(i, row["vid"]))
                and all(self._text_stem(row["qid"]) in st.names() for st in self.t_stores))

    # ---- features
    def _read(self, store, stem, key, what):
        arr = store.read(stem, key)
        check_feature_array(arr, store.file_of(stem), what=what)
        return arr

    def video_feat(self, vid) -> np.ndarray:
        """float32 (Lv, sum of dims) without tef; see the module docstring."""
        key = ("v", vid)
        if self.cache is not None and key in self.cache:
            return self.cache[key]
        feats = []
        for i, store in enumerate(self.v_stores):
            if self.v_i3d[i]:
                parts = [self._read(store, s, "features", "video")[self._vslice].astype(np.float32)
                         for s in self._video_stems(i, vid)]
                f = np.concatenate(parts, axis=-1)
            else:
                f = self._read(store, vid, "features", "video")[self._vslice].astype(np.float32)
            feats.append(l2_normalize(f) if self.normalize else f)
        min_len = min(len(f) for f in feats)
        v = np.concatenate([f[:min_len] for f in feats], axis=1)
        if self.v_feat_dim is not None and v.shape[1] != self.v_feat_dim:
            dims = " + ".join(f"{s.file_of(self._video_stems(i, vid)[0])} {f.shape[1]}"
                              for i, (s, f) in enumerate(zip(self.v_stores, feats)))
            raise DataError(f"video features of '{vid}' have {v.shape[1]} dims ({dims}) but --v_feat_dim is "
                            f"{self.v_feat_dim} (without tef)")
        if self.cache is not None:
            self.cache[key] = v
        return v

    def query_feat(self, qid) -> np.ndarray:
        """float32 (Lq, sum of dims); see the module docstring."""
        key = ("t", qid)
        if self.cache is not None and key in self.cache:
            return self.cache[key]
        stem = self._text_stem(qid)
        q_key = "token" if self.kind == "tvsum" else "last_hidden_state"
        feats = []
        for store in self.t_stores:
            f = self._read(store, stem, q_key, "text").astype(np.float32)[:self.max_q_l]
            feats.append(l2_normalize(f) if self.normalize else f)
        min_len = min(len(f) for f in feats)
        q = np.concatenate([f[:min_len] for f in feats], axis=1)
        if self.t_feat_dim is not None and q.shape[1] != self.t_feat_dim:
            dims = " + ".join(f"{s.file_of(stem)} {f.shape[1]}" for s, f in zip(self.t_stores, feats))
            raise DataError(f"text features of qid {qid} have {q.shape[1]} dims ({dims}) but --t_feat_dim is "
                            f"{self.t_feat_dim}")
        if self.cache is not None:
            self.cache[key] = q
        return q

    @property
    def _vslice(self):
        return slice(None) if self.max_v_l is None or self.max_v_l < 0 else slice(self.max_v_l)

    # ---- items
    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        meta = self.data[index]
        try:
            return {"meta": meta, "model_inputs": self._model_inputs(meta)}
        except DataError as e:
            raise DataError(f"{self.data_path}:{self.lines[index]} (qid {meta['qid']}): {e}") from None

    def _model_inputs(self, meta):
        inputs = {"query_feat": torch.from_numpy(self.query_feat(meta["qid"]))}
        if self.use_video:
            inputs["video_feat"] = torch.from_numpy(self.video_feat(meta["vid"]))  # (Lv, Dv)
            ctx_l = len(inputs["video_feat"])
        else:
            ctx_l = self.max_v_l
        if self.use_tef:
            tef_st = torch.arange(0, ctx_l, 1.0) / ctx_l
            tef_ed = tef_st + 1.0 / ctx_l
            tef = torch.stack([tef_st, tef_ed], dim=1)  # (Lv, 2)
            if self.use_video:  # concatenated in numpy: torch's threaded copy is ~100x slower on a busy CPU
                tef = torch.from_numpy(np.concatenate([inputs["video_feat"].numpy(), tef.numpy()], axis=1))
            inputs["video_feat"] = tef
        if not self.load_labels:
            return inputs

        if self.kind == "tvsum":
            inputs["span_labels"] = torch.tensor([[0.0, 0.0]])
            pos, neg, sal = L.saliency_labels_tvsum(meta["label"], ctx_l)
        else:
            inputs["span_labels"] = L.span_labels(meta["relevant_windows"], ctx_l, self.clip_length, self.max_windows)
            if self.kind == "hl":
                pos, neg, sal = L.saliency_labels_hl(meta["relevant_clip_ids"], meta["saliency_scores"], ctx_l)
            else:
                pos, neg, sal = L.saliency_labels_sub_as_query(meta["relevant_windows"][0], meta["duration"], ctx_l)
        inputs["saliency_pos_labels"] = pos
        inputs["saliency_neg_labels"] = neg
        inputs["saliency_all_labels"] = sal
        return inputs


DOWNLOAD_HINTS = {
    "hl": "the QVHighlights features (SlowFast, CLIP and BLIP-2 video; CLIP and BLIP-2 text)",
    "charadesSTA": "the Charades-STA features (SlowFast, CLIP and BLIP-2 video; CLIP and BLIP-2 text)",
    "tvsum": "the TVSum features (I3D rgb/opt video, CLIP query tokens)",
}


def build_dataset(opt, data_path: str, load_labels: bool = True, skip_invalid: bool = False) -> StartEndDataset:
    """Dataset for `data_path` (train_path or eval_path) from the options. As in the reference, --data_ratio
    applies to whichever file is loaded, and --dset_domain filters TVSum rows."""
    v_dim = getattr(opt, "v_feat_dim", None)
    if v_dim is not None and getattr(opt, "use_tef", "tef" in opt.ctx_mode):
        v_dim -= 2
    try:
        return StartEndDataset(
            dset_name=opt.dset_name, data_path=data_path, v_feat_dirs=opt.v_feat_dirs, t_feat_dirs=opt.t_feat_dirs,
            v_feat_dim=v_dim, t_feat_dim=getattr(opt, "t_feat_dim", None),
            max_q_l=opt.max_q_l, max_v_l=opt.max_v_l, clip_length=opt.clip_length, max_windows=opt.max_windows,
            use_tef=getattr(opt, "use_tef", "tef" in opt.ctx_mode),
            use_video=getattr(opt, "use_video", "video" in opt.ctx_mode),
            normalize=not opt.no_norm_vfeat, data_ratio=opt.data_ratio,
            dset_domain=opt.dset_domain if opt.dset_name == "tvsum" else None,
            load_labels=load_labels, cache=getattr(opt, "feat_cache", False),
            check_files=getattr(opt, "check_files", True), skip_invalid=skip_invalid)
    except MissingStoreError as e:
        what = DOWNLOAD_HINTS.get(opt.dset_name, f"the {opt.dset_name} features")
        raise DataError(f"{e}. Download {what} as described in data/README.md (bash scripts/download_data.sh), then "
                        f"point to them: for training FEAT_ROOT=... (launchers) or --feat_root; for inference "
                        f"--v_feat_dirs / --t_feat_dirs") from None

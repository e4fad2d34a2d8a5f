"""The moment-retrieval / highlight-detection dataset (the authors' StartEndDataset).

dataset[i] -> {"meta": the annotation row (dict, never modified),
               "model_inputs": {
                   "query_feat":  float32 (Lq, Dt)  data/inputs.py query_input of the text stores
                   "video_feat":  float32 (Lv, Dv)  data/inputs.py video_input of the video stores (tef included)
                   with labels:
                   "span_labels": float32 (n, 2)    normalised (center, width), n <= max_windows
                   "saliency_pos_labels", "saliency_neg_labels": list[int] (2, or 1 for tvsum / youtube labels)
                   "saliency_all_labels": float64 (Lv,)}}
What differs between datasets (label kind, text file names and key, domains) comes from its DatasetSpec.
"""
import numpy as np
import torch
from torch.utils.data import Dataset

from video_lights.data import labels as L
from video_lights.data.annotations import (DataError, MissingStoreError, missing_message, read_jsonl,
                                           validate_row)
from video_lights.data.features import open_store, read_text, read_video, video_stems
from video_lights.data.inputs import query_input, video_input
from video_lights.data.specs import load_spec


def rows_have_labels(rows, spec, data_path):
    """Whether the annotation rows carry labels (the spec's labels field): all do -> True, none -> False.

    A file where only some rows have them raises DataError naming the first row without."""
    has = [r.get(spec.labels_field) is not None for _, r in rows]
    if all(has):
        return True
    if any(has):
        lineno = rows[has.index(False)][0]
        raise DataError(f"{data_path}:{lineno}: field '{spec.labels_field}' is missing, but other rows of the file "
                        f"have it (a file either has labels on every row or on none)")
    return False


class StartEndDataset(Dataset):
    """Annotation rows + feature stores -> per-item model inputs and targets (see the module docstring).

    Args (plain values; build_dataset reads them from opt):
        spec: DatasetSpec (or its name / file).  data_path: annotation jsonl.
        v_feat_dirs / t_feat_dirs: feature folders or packed .h5 stores.  v_feat_dim / t_feat_dim: expected
        concatenated dims WITHOUT tef (None = not checked).  max_q_l, max_v_l (-1 = no limit), clip_length,
        max_windows, use_tef, use_video, normalize (L2 rows of video and text), data_ratio, dset_domain (for
        specs with domains), load_labels (None = when the rows have them), cache (keep processed features in
        memory), check_files (list the stores once and fail early on missing files), errors (a list: collect
        annotation / missing-file problems there and drop those rows instead of raising; the check command).
    """

    def __init__(self, spec, data_path, v_feat_dirs, t_feat_dirs, v_feat_dim=None, t_feat_dim=None,
                 max_q_l=32, max_v_l=75, clip_length=2, max_windows=5, use_tef=True, use_video=True,
                 normalize=True, data_ratio=1.0, dset_domain=None, load_labels=None, cache=False, check_files=True,
                 errors=None):
        self.spec = load_spec(spec)
        self.data_path = data_path
        self.max_q_l, self.max_v_l = max_q_l, max_v_l
        self.clip_length, self.max_windows = clip_length, max_windows
        self.use_tef, self.use_video, self.normalize = use_tef, use_video, normalize
        self.v_feat_dim, self.t_feat_dim = v_feat_dim, t_feat_dim
        self.v_stores = [open_store(d) for d in v_feat_dirs] if use_video else []  # a missing store stops at once
        self.t_stores = [open_store(d) for d in t_feat_dirs]
        self.cache = {} if cache else None
        self.errors = errors
        rows = read_jsonl(data_path, errors)
        if data_ratio != 1:
            rows = rows[:int(len(rows) * data_ratio)]
        if self.spec.domains and dset_domain is not None:
            rows = [(n, r) for n, r in rows if r.get("domain") == dset_domain]  # the authors: after data_ratio
            if not rows:
                raise DataError(f"{data_path}: no rows with domain '{dset_domain}'")
        self.load_labels = rows_have_labels(rows, self.spec, data_path) if load_labels is None else load_labels
        kept = []
        for lineno, row in rows:
            try:
                validate_row(row, f"{data_path}:{lineno}", self.spec.label_kind, self.load_labels, clip_length)
            except DataError as e:
                if errors is None:
                    raise
                errors.append(str(e))
                continue
            kept.append((lineno, row))
        self.lines = [n for n, _ in kept]
        self.data = [r for _, r in kept]
        if check_files:
            missing = self.missing_feature_files()
            if missing and errors is None:
                raise DataError(missing[0])
            if errors is not None:
                errors += missing

    # ---- feature files
    def missing_feature_files(self):
        """One message per store naming the count and the first few missing feature files (empty if none)."""
        msgs = []
        vids = list(dict.fromkeys(r["vid"] for r in self.data))
        for store in self.v_stores:
            missing = [s for v in vids for s in video_stems(store, v) if s not in store.names()]
            if missing:
                msgs.append(missing_message(store.path, missing, len(vids), "video"))
        stems = list(dict.fromkeys(self.spec.text_stem(r["qid"]) for r in self.data))
        for store in self.t_stores:
            missing = [s for s in stems if s not in store.names()]
            if missing:
                msgs.append(missing_message(store.path, missing, len(stems), "text"))
        return msgs

    def has_feature_files(self, index):
        """Whether every feature file of row `index` exists."""
        row = self.data[index]
        stem = self.spec.text_stem(row["qid"])
        return (all(s in st.names() for st in self.v_stores for s in video_stems(st, row["vid"]))
                and all(stem in st.names() for st in self.t_stores))

    # ---- features
    def _cached(self, key, make):
        if self.cache is None:
            return make()
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]

    def video_feat(self, vid) -> np.ndarray:
        """float32 (Lv, Dv) including tef; see data/inputs.py."""
        return self._cached(("v", vid), lambda: self._video_feat(vid))

    def _video_feat(self, vid):
        feats = [read_video(s, vid, self.max_v_l) for s in self.v_stores]
        width = sum(f.shape[1] for f in feats)
        if self.use_video and self.v_feat_dim is not None and width != self.v_feat_dim:
            dims = " + ".join(f"{s.file_of(video_stems(s, vid)[0])} {f.shape[1]}" for s, f in zip(self.v_stores, feats))
            raise DataError(f"video features of '{vid}' have {width} dims ({dims}) but --v_feat_dim is "
                            f"{self.v_feat_dim} (without tef)")
        return video_input(feats, self.max_v_l, self.normalize, self.use_tef, self.use_video)

    def query_feat(self, qid) -> np.ndarray:
        """float32 (Lq, Dt); see data/inputs.py."""
        return self._cached(("t", qid), lambda: self._query_feat(qid))

    def _query_feat(self, qid):
        stem = self.spec.text_stem(qid)
        feats = [read_text(s, stem, self.spec.text_key) for s in self.t_stores]
        q = query_input(feats, self.max_q_l, self.normalize)
        if self.t_feat_dim is not None and q.shape[1] != self.t_feat_dim:
            dims = " + ".join(f"{s.file_of(stem)} {f.shape[1]}" for s, f in zip(self.t_stores, feats))
            raise DataError(f"text features of qid {qid} have {q.shape[1]} dims ({dims}) but --t_feat_dim is "
                            f"{self.t_feat_dim}")
        return q

    def check_features(self, index=0):
        """Load the features of row `index` (no labels, no random draw): a wrong dimension or an unreadable file
        raises DataError now rather than in the first batch."""
        meta = self.data[index]
        try:
            self.query_feat(meta["qid"])
            self.video_feat(meta["vid"])
        except DataError as e:
            raise DataError(f"{self.data_path}:{self.lines[index]} (qid {meta['qid']}): {e}") from None

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
        inputs = {"query_feat": torch.from_numpy(self.query_feat(meta["qid"])),
                  "video_feat": torch.from_numpy(self.video_feat(meta["vid"]))}
        if not self.load_labels:
            return inputs
        ctx_l = len(inputs["video_feat"])
        if self.spec.moments:
            inputs["span_labels"] = L.span_labels(meta["relevant_windows"], ctx_l, self.clip_length, self.max_windows)
        else:
            inputs["span_labels"] = torch.tensor([[0.0, 0.0]])  # the authors' dummy span
        pos, neg, sal = L.saliency_labels(self.spec.label_kind, meta, ctx_l)
        inputs["saliency_pos_labels"] = pos
        inputs["saliency_neg_labels"] = neg
        inputs["saliency_all_labels"] = sal
        return inputs


def build_dataset(opt, data_path: str, spec=None, errors=None) -> StartEndDataset:
    """Dataset for `data_path` from the options; `spec` defaults to opt.dataset (pass opt.eval_dataset for the
    eval file). As the authors, --data_ratio applies to whichever file is loaded, and --dset_domain filters rows of
    datasets with domains. Labels are loaded when the rows have them."""
    spec = load_spec(spec if spec is not None else opt.dataset)
    try:
        return StartEndDataset(
            spec=spec, data_path=data_path, v_feat_dirs=opt.v_feat_dirs, t_feat_dirs=opt.t_feat_dirs,
            v_feat_dim=opt.v_feat_dim, t_feat_dim=opt.t_feat_dim,
            max_q_l=opt.max_q_l, max_v_l=opt.max_v_l, clip_length=opt.clip_length, max_windows=opt.max_windows,
            use_tef="tef" in opt.ctx_mode, use_video="video" in opt.ctx_mode,
            normalize=not opt.no_norm_vfeat, data_ratio=opt.data_ratio, dset_domain=opt.dset_domain,
            cache=opt.feat_cache, errors=errors)
    except MissingStoreError as e:
        what = spec.download or f"the {spec.name} features"
        raise DataError(f"{e}. Download {what} as described in data/README.md (bash scripts/download_data.sh), then "
                        f"point to them: for training FEAT_ROOT=... (launchers) or --feat_root; for inference "
                        f"--v_feat_dirs / --t_feat_dirs") from None

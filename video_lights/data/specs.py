"""What a dataset is, as data: one DatasetSpec per dataset, in a registry, or a user's own JSON / YAML spec file.

    spec = load_spec("qvhighlights")            # a registered name
    spec = load_spec("my_dataset.json")          # a file: {"name": "my_dataset", "label_kind": "window", ...}

Everything that differs between datasets is read from here where it matters (labels, feature file names,
window snapping, saliency in the submission, metrics, checkpoint selection and interval, what to download), so
adding a dataset means adding a spec, not editing code. The values of the registered datasets are the authors'
(their scripts, dataset classes and post-processor); `python -m video_lights.train --dataset FILE` takes a spec
file with the same fields (only `name` and `label_kind` are required).
"""
import dataclasses
import functools
import json
import os
from typing import Optional

from video_lights.data.annotations import DataError

# How per-clip saliency labels are made from an annotation row (data/labels.py):
#   qvhighlights  3-rater scores at relevant_clip_ids (QVHighlights)
#   window        binary, 1 inside the first relevant window (Charades-STA, TACoS, pretraining captions, ASR)
#   tvsum         20-annotator importance scores in "label" (TVSum)
#   youtube       one binary column in "label" (YouTube Highlights)
LABEL_KINDS = ("qvhighlights", "window", "tvsum", "youtube")
# How predictions are scored: "moment_retrieval" = the QVHighlights evaluator (MR, plus HD when the ground
# truth has saliency scores); "tvsum" = top-5 mAP of the clip ranking; "youtube" = full-list AP of the ranking.
METRICS = ("moment_retrieval", "tvsum", "youtube")

# Best-checkpoint selection: the authors' calculate_stop_score weights (normalised by their sum); no HD term.
QVHL_SELECTION = {"MR-full-R1@0.3": 0.3, "MR-full-R1@0.5": 0.5, "MR-full-R1@0.7": 0.7, "MR-full-mAP@0.5": 0.5,
                  "MR-full-mAP@0.75": 0.75, "MR-full-mAP": 0.25, "MR-long-mAP": 0.25, "MR-middle-mAP": 0.25,
                  "MR-short-mAP": 0.25}
MR_SELECTION = {"MR-full-R1@0.3": 0.3, "MR-full-R1@0.5": 0.5, "MR-full-R1@0.7": 0.7, "MR-full-mIoU": 0.5}
HD_SELECTION = {"mAP": 1.0}
# The brief metric names each kind of metrics reports (what `selection` may weigh).
_MR = [f"MR-{r}-mAP" for r in ("full", "short", "middle", "long")] + ["MR-full-mAP@0.5", "MR-full-mAP@0.75",
                                                                       "MR-full-mIoU"]
BRIEF_METRICS = {"moment_retrieval": _MR + [f"MR-full-R1@{t}" for t in ("0.3", "0.5", "0.7")]
                 + [f"HL-min-{g}-{m}" for g in ("Fair", "Good", "VeryGood") for m in ("mAP", "Hit1")],
                 "tvsum": ["mAP"], "youtube": ["mAP"]}
_TYPES = {"name": str, "label_kind": str, "tag": str, "clip_length": (int, float), "max_v_l": int,
          "saliency_in_submission": bool, "text_file": str, "text_key": str, "snap_max_ts": (int, float, type(None)),
          "metrics": (str, type(None)), "selection": (dict, type(None)), "save_every": int, "domains": bool,
          "download": str}


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """One dataset. Fields (defaults are QVHighlights'):

    name: registry name or the spec file's name.  tag: the authors' dset_name, used in run-folder and prediction
    file names (hl, charadesSTA, tacos, tvsum, youtube_uni).  label_kind: one of LABEL_KINDS.
    clip_length: seconds per feature row.  max_v_l: feature rows kept per video (-1 = all).
    saliency_in_submission: predictions carry pred_saliency_scores (the authors drop them where the annotations
    have no saliency scores).  text_file: stem of a query's text-feature file ({qid} is replaced).
    text_key: the npz array holding the token features.  snap_max_ts: predicted windows are clamped to
    [0, snap_max_ts] s and rounded to clip multiples (None: only rounded to 4 decimals).  metrics: one of METRICS
    (default: from the label kind).  selection: {brief metric: weight} for choosing the best checkpoint (default:
    R1 + mIoU for moment retrieval, mAP otherwise).  save_every: weight-only checkpoint every N
    epochs (0 = none).  domains: rows carry "domain" and --dset_domain picks one.  download: what to fetch when its
    features are missing.
    """
    name: str
    label_kind: str
    tag: str = ""
    clip_length: float = 2
    max_v_l: int = 75
    saliency_in_submission: bool = True
    text_file: str = "qid{qid}"
    text_key: str = "last_hidden_state"
    snap_max_ts: Optional[float] = None
    metrics: Optional[str] = None
    selection: Optional[dict] = None
    save_every: int = 50
    domains: bool = False
    download: str = ""

    def __post_init__(self):
        where = f"dataset spec '{self.name}'"
        for field, kind in _TYPES.items():
            value = getattr(self, field)
            if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, (int, float))):
                raise DataError(f"{where}: field '{field}' = {value!r} has the wrong type")
        if self.metrics is None:
            object.__setattr__(self, "metrics", "moment_retrieval" if self.moments else
                               "tvsum" if self.label_kind == "tvsum" else "youtube")
        if self.selection is None:
            object.__setattr__(self, "selection", dict(MR_SELECTION if self.metrics == "moment_retrieval"
                                                       else HD_SELECTION))
        if not self.tag:
            object.__setattr__(self, "tag", self.name)
        if self.label_kind not in LABEL_KINDS:
            raise DataError(f"{where}: field 'label_kind' = {self.label_kind!r} is not one of {', '.join(LABEL_KINDS)}")
        if self.metrics not in METRICS:
            raise DataError(f"{where}: field 'metrics' = {self.metrics!r} is not one of {', '.join(METRICS)}")
        if not (isinstance(self.clip_length, (int, float)) and self.clip_length > 0):
            raise DataError(f"{where}: field 'clip_length' must be a positive number of seconds, "
                            f"got {self.clip_length!r}")
        if not (isinstance(self.max_v_l, int) and (self.max_v_l > 0 or self.max_v_l == -1)):
            raise DataError(f"{where}: field 'max_v_l' must be a positive int or -1, got {self.max_v_l!r}")
        if "{qid}" not in self.text_file:
            raise DataError(f"{where}: field 'text_file' must contain {{qid}}, got {self.text_file!r}")
        if not self.selection or not all(isinstance(w, (int, float)) for w in self.selection.values()):
            raise DataError(f"{where}: field 'selection' must map brief metric names to weights")
        unknown = [k for k in self.selection if k not in BRIEF_METRICS[self.metrics]]
        if unknown:
            raise DataError(f"{where}: field 'selection' names {', '.join(unknown)}, not metrics of "
                            f"'{self.metrics}' ({', '.join(BRIEF_METRICS[self.metrics])})")
        if self.save_every < 0 or (self.snap_max_ts is not None and self.snap_max_ts <= 0):
            raise DataError(f"{where}: fields 'save_every' (>= 0) and 'snap_max_ts' (> 0) must not be negative")

    @property
    def moments(self) -> bool:
        """Rows carry moment windows (qvhighlights and window labels): the matcher and the span / label /
        alignment losses run."""
        return self.label_kind in ("qvhighlights", "window")

    @property
    def labels_field(self) -> str:
        """The annotation field whose presence means a row has labels."""
        return "relevant_windows" if self.moments else "label"

    def text_stem(self, qid) -> str:
        return self.text_file.replace("{qid}", str(qid))


_QVHL_FEATURES = "the QVHighlights features (SlowFast, CLIP and BLIP-2 video; CLIP and BLIP-2 text)"
REGISTRY = {s.name: s for s in [
    DatasetSpec("qvhighlights", "qvhighlights", tag="hl", snap_max_ts=150, selection=QVHL_SELECTION,
                download=_QVHL_FEATURES),
    DatasetSpec("charades_sta", "window", tag="charadesSTA", clip_length=1, saliency_in_submission=False,
                snap_max_ts=150,
                download="the Charades-STA features (SlowFast, CLIP and BLIP-2 video; CLIP and BLIP-2 text)"),
    # TACoS (the authors' tacos/train.sh and PostProcessorDETR): 2-s clips, every clip kept (max_v_l -1: videos
    # run to 23 min), windows rounded to clip multiples with their max_ts_val of 50000 s (no real clamp; ours also
    # clamps at 0, where theirs does not: only a start before -1 s, which rounds below 0, differs).
    DatasetSpec("tacos", "window", tag="tacos", max_v_l=-1, saliency_in_submission=False, text_file="{qid}",
                snap_max_ts=50000, download="the TACoS features (SlowFast and CLIP video, CLIP text)"),
    DatasetSpec("tvsum", "tvsum", tag="tvsum", max_v_l=1000, text_file="{qid}", text_key="token",
                save_every=0, domains=True,
                download="the TVSum features (I3D rgb/opt video, CLIP query tokens)"),
    # YouTube Highlights: one label per 100-frame segment taken every 50 frames (the rows' `clip` field), i.e.
    # 5/3 s at 30 fps: duration / len(label) has median 1.69 s (train) and 1.70 s (valid), and the hop
    # (clip[1][0] - clip[0][0]) / fps has median 1.668 s. The authors pass --clip_length 1, which changes no
    # number for this dataset (no windows are trained, snapped or scored; the MR->HD head's span-to-clip
    # conversion cancels it, up to float rounding at exact clip boundaries); 5/3 makes features extracted here
    # line up with the labels of 30-fps videos.
    DatasetSpec("youtube_highlights", "youtube", tag="youtube_uni", clip_length=5 / 3, max_v_l=1000,
                text_file="{qid}", save_every=0, domains=True,
                download="the YouTube Highlights features (CLIP and SlowFast video, CLIP text)"),
    # Pretraining data is evaluated on QVHighlights val (--eval_dataset qvhighlights), so it names runs "hl".
    DatasetSpec("pretrain_captions", "window", tag="hl", snap_max_ts=150, selection=QVHL_SELECTION,
                download="the pretraining features (BLIP caption queries over QVHighlights videos)"),
    DatasetSpec("asr_pretrain", "window", tag="hl", snap_max_ts=150, selection=QVHL_SELECTION, save_every=10,
                download="the ASR pretraining features (subtitle queries over QVHighlights videos)"),
]}


def _read_spec_file(path):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise DataError(f"{path}: cannot read dataset spec ({e.strerror})") from None
    if path.endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError:
            raise DataError(f"{path}: reading a YAML spec needs PyYAML (pip install pyyaml), or write it as "
                            f"JSON") from None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise DataError(f"{path}: not valid YAML ({e})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{e.lineno}: not valid JSON ({e.msg} at column {e.colno})") from None


def load_spec(name_or_path) -> DatasetSpec:
    """A registered spec by name, or a spec file (.json, .yaml, .yml). Raises DataError naming the field."""
    if isinstance(name_or_path, DatasetSpec):
        return name_or_path
    if name_or_path in REGISTRY:
        return REGISTRY[name_or_path]
    return _load_spec_file(os.path.abspath(str(name_or_path)), str(name_or_path))


@functools.lru_cache(maxsize=None)
def _load_spec_file(abspath, path) -> DatasetSpec:
    """A spec file, read once per run (every consumer of --dataset FILE gets the same spec)."""
    if not path.endswith((".json", ".yaml", ".yml")):
        raise DataError(f"unknown dataset {path!r}: use one of {', '.join(REGISTRY)} or a spec file "
                        f"(.json / .yaml)")
    d = _read_spec_file(path)
    if not isinstance(d, dict):
        raise DataError(f"{path}: a dataset spec must be a mapping of fields, got {type(d).__name__}")
    d.setdefault("name", os.path.splitext(os.path.basename(path))[0])
    fields = {f.name for f in dataclasses.fields(DatasetSpec)}
    unknown = sorted(set(d) - fields)
    if unknown:
        raise DataError(f"{path}: unknown field(s) {', '.join(unknown)} (fields: {', '.join(sorted(fields))})")
    if "label_kind" not in d:
        raise DataError(f"{path}: field 'label_kind' is missing ({', '.join(LABEL_KINDS)})")
    try:
        return DatasetSpec(**d)
    except DataError as e:
        raise DataError(f"{path}: {e}") from None
    except TypeError as e:
        raise DataError(f"{path}: {e}") from None

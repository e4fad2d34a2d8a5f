"""Run a trained VideoLights model on one's own videos: raw video + text queries -> ranked moments and saliency.

    predictor = Predictor.from_checkpoint("model_best.ckpt", device="cuda")    # or an exported dir, a hub id
    video = predictor.encode_video("my_video.mp4")                              # extractors run once (cached)
    for p in predictor.predict(video, ["a man cooks pasta", "a dog runs"]):    # queries batched
        p.windows     # [[start_s, end_s, score], ...] ranked, in seconds of the real video
        p.saliency    # float32 (n_clips,) per-clip saliency; p.clip_times float32 (n_clips, 2)

Which extractors, in which order: the checkpoint's --v_feat_dirs / --t_feat_dirs (their folder names, see
features/layouts.py VIDEO_FOLDERS, TEXT_FOLDERS); their widths are checked against the model's input projection
before anything runs. Model inputs are built by data/inputs.py, the code the dataset uses in training (same
normalisation, type order and tef). A video longer than max_v_l clips is cut into overlapping windows
(predict/long_video.py), whose moment scores are weighted by their clips' sigmoid(saliency) to rank across windows;
the first moment is the winner of a knock-out among the top three, each pair side by side in one input.

Heavy dependencies (PyAV, transformers) are imported only when extractors are loaded or a video is decoded.
"""
import collections
import dataclasses
import hashlib
import json
import os

import numpy as np
import torch

from video_lights.api import checkpoint_options, load_checkpoint
from video_lights.data.inputs import batch_inputs, query_input, video_input
from video_lights.engine.postprocessing import decode_moments, valid_saliency
from video_lights.features.layouts import extractor_ids, feature_types
from video_lights.features.limits import DecodeLimits
from video_lights.predict.long_video import DEFAULT_NMS_THD, KNOCKOUT, finalists, merge_moments, \
    merge_saliency, prefers_second, promote, side_by_side, window_seconds, window_spans
from video_lights.utils.cli import UserError
from video_lights.utils.io import save_npz

CACHE_FORMAT = 1  # bump when the cached arrays change meaning
MEMORY_CACHE = 16  # videos whose features stay in memory (least recently used dropped first)
QUERY_CACHE = 1024  # query strings whose token features stay in memory (~160 kB each for VideoLights-B)
DIGEST_CACHE = 4096  # (path, size, mtime) -> sha256 of files already hashed


class _LRU(collections.OrderedDict):
    """A dict that keeps its `size` most recently read or written entries: a predictor serving a web app for
    days must not grow with every distinct video and query it has seen."""

    def __init__(self, size):
        super().__init__()
        self.size = size

    def get(self, key, default=None):
        if key not in self:
            return default
        self.move_to_end(key)
        return self[key]

    def put(self, key, value):
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)
        return value


class PredictError(UserError):
    """A checkpoint whose features cannot be computed here, extractors that do not fit it, or a bad input."""


def _sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclasses.dataclass
class VideoFeatures:
    """One video's extracted features.

    features: {type: float32 (rows_type, D_type)} for the model's video types ("slowfast", "clip", "blip2");
    duration: the video's duration in seconds; clip_length: seconds per clip (a row); source: the file (or "");
    sha256: the file's content hash (or "")."""
    features: dict
    duration: float
    clip_length: float
    source: str = ""
    sha256: str = ""

    @property
    def n_clips(self) -> int:
        """Clips the model sees: the fewest rows of the types (data/inputs.py cuts the types to the shortest)."""
        return min(len(v) for v in self.features.values())

    def clip_times(self) -> np.ndarray:
        """float32 (n_clips, 2): [i * clip_length, min((i + 1) * clip_length, duration)]."""
        i = np.arange(self.n_clips, dtype=np.float64)
        starts = np.minimum(i * self.clip_length, self.duration)
        return np.stack([starts, np.minimum((i + 1) * self.clip_length, self.duration)], 1).astype(np.float32)

    def save(self, path):
        """Write an .npz (atomic): one array per type plus duration, clip_length, source, sha256."""
        arrays = {f"feat_{k}": np.asarray(v, np.float32) for k, v in self.features.items()}
        meta = dict(duration=self.duration, clip_length=self.clip_length, source=self.source, sha256=self.sha256,
                    format=CACHE_FORMAT)
        save_npz(path, meta=np.array(json.dumps(meta)), **arrays)

    @classmethod
    def load(cls, path) -> "VideoFeatures":
        """Read a file written by save(); PredictError naming it when it is not one."""
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                feats = {k[len("feat_"):]: z[k].astype(np.float32) for k in z.files if k.startswith("feat_")}
        except (OSError, ValueError, KeyError) as e:
            raise PredictError(f"{path}: not a features file written by VideoFeatures.save ({e})") from None
        if not feats or meta.get("format") != CACHE_FORMAT:
            raise PredictError(f"{path}: not a features file written by VideoFeatures.save (format "
                               f"{meta.get('format')!r}, {len(feats)} feature types)")
        return cls(feats, float(meta["duration"]), float(meta["clip_length"]), meta.get("source", ""),
                   meta.get("sha256", ""))


@dataclasses.dataclass
class QueryFeatures:
    """One query's token features: {type: float32 (L_type, D_type)} for the model's text types ("clip", "blip2"),
    the `last_hidden_state` rows the dataset reads."""
    query: str
    features: dict


@dataclasses.dataclass
class Prediction:
    """The answer to one query.

    windows: [[start_s, end_s, score], ...] ranked by score, in seconds of the real video, inside [0, duration];
    saliency: float32 (n_clips,) per-clip saliency (mean over the windows covering a clip);
    clip_times: float32 (n_clips, 2) start / end seconds of each clip (clipped to the duration)."""
    query: str
    windows: list
    saliency: np.ndarray
    clip_times: np.ndarray


def _resolve_device(device):
    device = "auto" if device is None else str(device)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        return torch.device(device)
    except RuntimeError as e:
        raise PredictError(f"--device {device!r}: {e}") from None


class Predictor:
    """A model, its options and the extractors that turn a video and queries into its inputs.

    model: a VideoLights network (or any module with its forward signature and outputs); opt: the resolved options
    it was trained with (checkpoint_options); extractors: a features.pipeline.Extractors with the types the model
    reads (None: only VideoFeatures / QueryFeatures inputs); device: where the model (and extractors) run.
    Keyword options: batch_size (model inputs per forward pass), cache_dir (folder for .npz feature caches), source
    (named in error messages), frame_rule (decoding), limits (features/limits.py DecodeLimits: per-video bounds on
    frame size, duration and decoding time), extractor_ids ({type: weights id}, part of the
    cache key). The last MEMORY_CACHE videos and QUERY_CACHE queries stay in memory.
    """

    def __init__(self, model, opt, extractors=None, device="cpu", *, batch_size=32, cache_dir=None,
                 source="checkpoint", frame_rule="modern", limits=DecodeLimits(), extractor_ids=None):
        self.device = _resolve_device(device)
        self.model = model.to(self.device).eval()
        self.opt = opt
        self.source = str(source)
        self.video_types, self.text_types = feature_types(opt, self.source)
        self.extractors = extractors
        self.batch_size = int(batch_size)
        self.cache_dir = cache_dir
        self.frame_rule = frame_rule
        self.limits = limits   # a video within them gives the same features under any limits
        self.extractor_ids = dict(extractor_ids or {})
        self._video_cache, self._query_cache = _LRU(MEMORY_CACHE), _LRU(QUERY_CACHE)
        self._digests = _LRU(DIGEST_CACHE)
        # the model's input widths without tef (its input projection was built from these options)
        self.input_widths = (opt.v_feat_dim, opt.t_feat_dim)
        if extractors is not None:
            self.check_extractors(extractors)
            # part of the cache key: what the extractors are (it never changes for a predictor)
            precision = getattr(extractors, "precision", "fp32")
            desc = dict(types=self.video_types, ids={n: self.extractor_ids.get(n, "") for n in self.video_types},
                        dims=[_video_dim(getattr(extractors, n)) for n in self.video_types],
                        clip_length=opt.clip_length, frame_rule=frame_rule, format=CACHE_FORMAT,
                        # reduced-precision features are other features; float32's keys stay as they were
                        **({} if precision == "fp32" else {"precision": precision}))
            self._extractor_key = hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()[:16]

    # ---------------------------------------------------------------------------------------------------------
    @classmethod
    def from_checkpoint(cls, checkpoint, device="cpu", slowfast=None, clip=None, blip2=None, cache_dir=None,
                        batch_size=32, extractor_batch_size=16, fp16=False, bf16=False,
                        frame_rule="modern", limits=DecodeLimits()):
        """Build the model of a checkpoint and load the extractors it needs.

        checkpoint: our or the authors' .ckpt, a directory written by `python -m video_lights.export`, or a Hugging
        Face hub id of such a directory (local cache only). slowfast / clip / blip2: extractor weights (a
        .safetensors file / a hub id or folder); default: the ids of the exported config.json, else the
        released extractors (features/layouts.py extractor_ids). fp16 / bf16: the extractors' precision
        (features/precision.py).
        Raises UserError (one line) for a checkpoint that cannot be read, features this install cannot compute,
        missing extractor weights or extractors whose widths do not fit the model.
        """
        device = _resolve_device(device)
        model, ckpt = load_checkpoint(checkpoint)
        source = os.fspath(checkpoint)
        opt = checkpoint_options(ckpt, source)
        video_types, text_types = feature_types(opt, source)
        try:
            from video_lights.features.pipeline import Extractors
        except ImportError as e:
            raise PredictError(f"running on videos needs the video extra: pip install -e .[video] ({e})") from None
        names = sorted(set(video_types) | set(text_types))
        ids = extractor_ids(names, dict(slowfast=slowfast, clip=clip, blip2=blip2),
                            (ckpt.get("config") or {}).get("extractors"))
        extractors = Extractors.load(names, slowfast=ids["slowfast"], clip=ids["clip"], blip2=ids["blip2"],
                                     device=device, batch_size=extractor_batch_size, fp16=fp16, bf16=bf16)
        return cls(model, opt, extractors, device, batch_size=batch_size, cache_dir=cache_dir, source=source,
                   frame_rule=frame_rule, limits=limits, extractor_ids={n: str(ids[n]) for n in names})

    def check_extractors(self, extractors):
        """PredictError naming every mismatch between the extractors' widths and the model's input projection."""
        missing = [n for n in dict.fromkeys(self.video_types + self.text_types) if getattr(extractors, n) is None]
        if missing:
            raise PredictError(f"{self.source}: the model reads {', '.join(missing)} features but no such extractor "
                               f"is loaded")
        want_v, want_t = self.input_widths
        problems = []
        for what, types, want, dim in (("video", self.video_types, want_v, _video_dim),
                                       ("text", self.text_types, want_t, _text_dim)):
            dims = [dim(getattr(extractors, n)) for n in types]
            if sum(dims) != want:
                parts = " + ".join(f"{n} {d}" for n, d in zip(types, dims))
                problems.append(f"{what} input is {want} wide but the extractors give {parts} = {sum(dims)}")
        if problems:
            raise PredictError(f"{self.source}: the extractors do not fit the model: {'; '.join(problems)} (pass the "
                               f"extractor weights the checkpoint was trained with: --slowfast / --clip / --blip2)")

    # ---------------------------------------------------------------------------------------------------------
    def encode_video(self, path, progress=None) -> VideoFeatures:
        """Run the video extractors over a file once: VideoFeatures with {type: float32 (rows, D)}.

        Cached in memory by the file's content (sha256) and the extractors; with cache_dir also on disk
        ({cache_dir}/{sha256}-{extractors}.npz, written atomically). progress: optional callable(done_s, total_s)
        told how many seconds of video have been through the extractors (not called on a cache hit). Raises
        UserError naming the file for a missing or unreadable video, or one past the decoding limits."""
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise PredictError(f"{path}: no such video file")
        if self.extractors is None:
            raise PredictError(f"{path}: this predictor has no extractors (build it with Predictor.from_checkpoint)")
        stat = os.stat(path)
        file_id = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns)
        digest = self._digests.get(file_id)  # hash a file once, not on every predict() of it
        if digest is None:
            digest = self._digests.put(file_id, _sha256(path))
        key = f"{digest}-{self._extractor_key}"
        cached = self._video_cache.get(key)
        if cached is not None:
            return cached
        cache_file = os.path.join(self.cache_dir, f"{key}.npz") if self.cache_dir else None
        if cache_file and os.path.isfile(cache_file):
            try:
                feats = VideoFeatures.load(cache_file)
            except PredictError:
                feats = None  # a stale or foreign file: extract again and overwrite it
            if feats is not None and set(feats.features) == set(self.video_types):
                feats.source = path
                return self._video_cache.put(key, feats)
        from video_lights.features.pipeline import extract_video
        rows, info = extract_video(path, self.extractors, self.opt.clip_length, self.frame_rule, progress,
                                   self.limits)
        clip_length = float(self.opt.clip_length)
        out = VideoFeatures({n: np.asarray(rows[n], np.float32) for n in self.video_types}, 0.0, clip_length, path,
                            digest)
        out.duration = float(info.duration) if info.duration else out.n_clips * clip_length
        if cache_file:
            out.save(cache_file)
        return self._video_cache.put(key, out)

    def encode_query(self, query) -> QueryFeatures:
        """Token features of one query string (cached in memory): QueryFeatures {type: float32 (L, D)}."""
        if isinstance(query, QueryFeatures):
            return query
        if not isinstance(query, str) or not query.strip():
            raise PredictError(f"query {query!r}: a query must be a non-empty string")
        cached = self._query_cache.get(query)
        if cached is None:
            if self.extractors is None:
                raise PredictError(f"query {query!r}: this predictor has no text extractors (build it with "
                                   f"Predictor.from_checkpoint, or pass QueryFeatures)")
            from video_lights.features.pipeline import extract_text
            text = extract_text(query, self.extractors)
            cached = self._query_cache.put(query, QueryFeatures(query, {
                n: np.asarray(text[n]["last_hidden_state"], np.float32) for n in self.text_types}))
        return cached

    # ---------------------------------------------------------------------------------------------------------
    def _check_video(self, video: VideoFeatures):
        missing = [n for n in self.video_types if n not in video.features]
        if missing:
            raise PredictError(f"{video.source or 'video features'}: no {', '.join(missing)} features (has "
                               f"{', '.join(video.features)})")
        want_v, _ = self.input_widths
        width = sum(video.features[n].shape[1] for n in self.video_types)
        if width != want_v:
            raise PredictError(f"{video.source or 'video features'}: {width}-wide video features, the model reads "
                               f"{want_v}")
        if abs(video.clip_length - float(self.opt.clip_length)) > 1e-6:
            raise PredictError(f"{video.source or 'video features'}: {video.clip_length:g}-s clips, the model was "
                               f"trained on {float(self.opt.clip_length):g}-s clips")
        if video.n_clips == 0:
            raise PredictError(f"{video.source or 'video features'}: no clips")

    @torch.no_grad()
    def predict(self, video, queries, top_k=10, nms_thd=DEFAULT_NMS_THD) -> list:
        """Ranked moments and per-clip saliency of one video for one or several queries.

        Args:
            video: a video file path, or VideoFeatures (encode_video, VideoFeatures.load).
            queries: a string, or a list of strings / QueryFeatures; all go through the model in batches of
                batch_size (window, query) inputs.
            top_k: moments kept per query; nms_thd: temporal NMS threshold of the merge (None: no NMS).
        Returns:
            one Prediction per query, in order.

        Every input of a batch has the same number of clips (a video is max_v_l-clip windows, or one window), so
        no video padding occurs and the authors' batch-dependent BiCMF mask (model/bicmf.py) changes nothing:
        batched queries give the answers of one-by-one calls.
        """
        if not isinstance(video, VideoFeatures):
            video = self.encode_video(video)
        self._check_video(video)
        single = isinstance(queries, (str, QueryFeatures))
        queries = [queries] if single else list(queries)
        if not queries:
            raise PredictError("no query given")
        texts = [self.encode_query(q) for q in queries]
        opt, n_clips = self.opt, video.n_clips
        spans = window_spans(n_clips, opt.max_v_l)
        feats = [video.features[n][:n_clips] for n in self.video_types]
        v_inputs = [self._video_input(feats, slice(st, ed)) for st, ed in spans]
        q_inputs = [query_input([t.features[n] for n in self.text_types], opt.max_q_l, not opt.no_norm_vfeat)
                    for t in texts]
        durations = [window_seconds(s, video.clip_length, video.duration)[1] for s in spans]
        pairs = [(v_inputs[w], q_inputs[q], durations[w]) for q in range(len(texts)) for w in range(len(spans))]
        moments, saliency = self._run(pairs)
        moments = [moments[q * len(spans):(q + 1) * len(spans)] for q in range(len(texts))]
        saliency = [saliency[q * len(spans):(q + 1) * len(spans)] for q in range(len(texts))]
        merged = [merge_moments(m, s, spans, video.clip_length, video.duration, top_k, nms_thd)
                  for m, s in zip(moments, saliency)]
        if len(spans) > 1:  # the first moment: the winner of the top candidates compared side by side
            merged = self._knock_out(feats, q_inputs, merged, video.clip_length)
        clip_times = video.clip_times()
        return [Prediction(t.query, merged[q], merge_saliency(saliency[q], spans, n_clips), clip_times.copy())
                for q, t in enumerate(texts)]

    def _knock_out(self, feats, q_inputs, merged, clip_length) -> list:
        """Per query its merged rows with the knock-out's winner first: the merge's first KNOCKOUT non-overlapping
        moments (finalists) meet in pairs, the first against the second, the winner against the third, each pair
        in one model input of max_v_l clips that shows both with context (side_by_side, prefers_second). One
        round is one batched pass over the queries: at most KNOCKOUT - 1 more inputs per query.

        feats: the video's per-type clip features; q_inputs: per query its model input; merged: per query its
        rows from merge_moments."""
        max_v_l, n_clips = self.opt.max_v_l, len(feats[0])
        candidates = [finalists(rows, KNOCKOUT) for rows in merged]
        winners = [c[0] if c else None for c in candidates]
        for challenger in range(1, KNOCKOUT):
            bouts = []  # (query, challenger row, owner of the input's clips, model input)
            for q, c in enumerate(candidates):
                shown = side_by_side(winners[q], c[challenger], n_clips, max_v_l, clip_length) \
                    if len(c) > challenger else None
                if shown is not None:
                    clips, owner = shown
                    bouts.append((q, c[challenger], owner, self._video_input(feats, clips)))
            moments, saliency = self._run([(v, q_inputs[q], max_v_l * clip_length) for q, _, _, v in bouts])
            for (q, row, owner, _), m, s in zip(bouts, moments, saliency):
                if prefers_second(owner, m, s, clip_length):
                    winners[q] = row
        return [promote(rows, w) if w is not None else rows for rows, w in zip(merged, winners)]

    def _video_input(self, feats, clips) -> np.ndarray:
        """The model input of the clips `clips` (a slice or an index array) of the per-type features `feats`."""
        opt = self.opt
        return video_input([f[clips] for f in feats], opt.max_v_l, not opt.no_norm_vfeat, "tef" in opt.ctx_mode, True)

    def _run(self, inputs):
        """The model over [(video input, query input, window duration s), ...] in batches of batch_size:
        (per input its decoded rows [[start_s, end_s, foreground probability], ...], per input its clips'
        saliency)."""
        moments, saliency = [], []
        for i in range(0, len(inputs), self.batch_size):
            chunk = inputs[i:i + self.batch_size]
            batch = batch_inputs([v for v, _, _ in chunk], [q for _, q, _ in chunk], self.device)
            out = self.model(**batch, loss_outputs=False)
            moments += decode_moments(out["pred_logits"], out["pred_spans"], [d for _, _, d in chunk])
            saliency += valid_saliency(out["saliency_scores"].float(), out["video_mask"])
        return moments, saliency


def _video_dim(extractor) -> int:
    return extractor.feature_dim if hasattr(extractor, "feature_dim") else extractor.image_dim


def _text_dim(extractor) -> int:
    return extractor.text_dim

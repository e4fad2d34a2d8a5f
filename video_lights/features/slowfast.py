"""SlowFast-R50 (Kinetics-400, 8x8) features as HERO's extractor makes them: one 2304-d row per clip of clip_len
seconds, [slow 2048 | fast 256].

Pipeline (HERO_Video_Feature_Extractor `slowfast/extract_feature/preprocessing.py`, `video_loader.py`,
`extract.py`; PySlowFast `video_model_builder.py`, `resnet_helper.py`, `stem_helper.py`, `head_helper.py`):

    assembler = ClipAssembler(clip_len=2, duration=info.duration)   # the 30-fps stream -> HERO's clips
    clips = [c for f in frames_30fps for c in assembler.push(f)] + assembler.finish()
    rows = SlowFastExtractor("SLOWFAST_8x8_R50.safetensors").features(clips, src_fps=info.fps)  # (n, 2304) float32

The weights are PySlowFast's Caffe2 `SLOWFAST_8x8_R50.pkl`, converted once to safetensors by
`python -m video_lights.features.convert_slowfast`; this module never unpickles anything.
"""
import math
import os
from typing import Optional

import numpy as np
import safetensors
import safetensors.torch
import torch
import torch.nn.functional as F
from torch import nn

from video_lights.features.precision import bf16_autocast
from video_lights.utils.model_files import safetensors_problem
from video_lights.utils.cli import UserError
from video_lights.utils.io import atomic_open

PKL_NAME = "SLOWFAST_8x8_R50.pkl"
PKL_URL = "https://dl.fbaipublicfiles.com/pyslowfast/model_zoo/kinetics400/SLOWFAST_8x8_R50.pkl"
WEIGHTS_NAME = "SLOWFAST_8x8_R50.safetensors"

TARGET_FPS = 30        # HERO decodes every video at 30 fps for SlowFast (--target_framerate)
NUM_FRAMES = 32        # DATA.NUM_FRAMES: frames of the fast pathway
SAMPLING_RATE = 2      # DATA.SAMPLING_RATE
ALPHA = 4              # SLOWFAST.ALPHA: fast / slow frame ratio
# slow pathway = fast frames at linspace(0, 31, 8) truncated (HERO `pack_pathway_output`), not a stride of 4
SLOW_INDICES = (0, 4, 8, 13, 17, 22, 26, 31)
MEAN, STD = 0.45, 0.225  # HERO `Normalize` for the 3d model, all three RGB channels
BN_EPS = 1e-5
NUM_CLASSES = 400        # Kinetics-400 head: in the checkpoint, unused by the features


class SlowFastError(UserError):
    """SlowFast weights that are missing, unreadable or do not fit the model; the message names the file."""


def clip_frame_indices(clip_frames: int, src_fps: int) -> np.ndarray:
    """The 32 frame positions HERO samples inside one clip of `clip_frames` (30-fps) frames: (32,) int64.

    HERO's quirk (`preprocessing.py`, `get_start_end_idx` + `temporal_sampling`): the window is
    NUM_FRAMES * SAMPLING_RATE * src_fps / TARGET_FPS frames of the ALREADY 30-fps clip, where src_fps is the
    source's floor(avg_frame_rate); positions = torch.linspace(0, window - 1, 32) in float32, clamped to
    [0, clip_frames - 1], truncated. 2-s clip: src 30 -> 0, 2, ..., 58, 59, 59; src 60 -> 0, 4, ..., 57 then 17 x 59.
    """
    window = NUM_FRAMES * SAMPLING_RATE * src_fps / TARGET_FPS
    start = 0.0  # delta * clip_idx / num_clips with clip_idx 0, num_clips 1
    index = torch.linspace(start, start + window - 1, NUM_FRAMES)
    return torch.clamp(index, 0, clip_frames - 1).long().numpy()


class ClipAssembler:
    """HERO preprocessing on a stream of 30-fps frames: last-frame padding to whole seconds, last-second padding to
    whole clips, ceil(duration / clip_len) clips when the duration is known.

    HERO (`Preprocessing.__call__`) pads the N decoded frames with copies of the last frame up to a multiple of
    `rate` (S seconds), pads the seconds with copies of the last 1-s block up to a multiple of clip_len, cuts clips
    of clip_len * rate frames and, when the stream duration is > 0, keeps the first ceil(duration / clip_len).
    Here the same happens on a stream: push() returns each clip as soon as it is complete (only the last clip is
    ever padded), finish() the padded last one. One assembler per video. Frames are (H, W, 3) uint8 (224 x 224
    from the decoder; any size works); clips are (clip_len * rate, H, W, 3) uint8.

    duration: the stream duration in seconds as HERO's ffprobe reads it; None (or <= 0) when unknown, as HERO's
    -1, which keeps every clip.
    """

    def __init__(self, clip_len: int, duration: Optional[float], rate: int = TARGET_FPS):
        if int(clip_len) != clip_len or clip_len < 1:
            raise ValueError(f"clip_len must be a whole number of seconds >= 1, got {clip_len}")
        self.clip_len = int(clip_len)
        self.rate = int(rate)
        self.clip_frames = self.clip_len * self.rate
        self.max_clips = math.ceil(duration / self.clip_len) if duration is not None and duration > 0 else None
        self.emitted = 0
        self._frames = []  # the frames of the clip being filled

    def _room(self) -> bool:
        return self.max_clips is None or self.emitted < self.max_clips

    def _emit(self, frames) -> list:
        clip = np.stack(frames)
        self.emitted += 1
        return [clip]

    def push(self, frame) -> list:
        """Add the next 30-fps frame (H, W, 3) uint8; returns the clips that are complete now (0 or 1)."""
        if not self._room():
            return []  # past ceil(duration / clip_len) clips: HERO drops the rest
        self._frames.append(np.asarray(frame))
        if len(self._frames) < self.clip_frames:
            return []
        frames, self._frames = self._frames, []
        return self._emit(frames)

    def finish(self) -> list:
        """The last, padded clip (0 or 1 clips): the last frame repeated to a whole second, then the last second
        repeated to a whole clip (clip_len 2 and an odd number of seconds: the last second twice)."""
        frames, self._frames = self._frames, []
        if not frames or not self._room():
            return []
        frames += [frames[-1]] * (-len(frames) % self.rate)
        last_second = frames[-self.rate:]
        while len(frames) < self.clip_frames:
            frames += last_second
        return self._emit(frames)


def pathway_inputs(clips, src_fps: int):
    """HERO's model input for a batch of clips.

    clips: (B, T, H, W, 3) uint8, numpy or torch (T = clip_len * 30 frames; H = W = 224 in practice); src_fps:
    the source's floor(avg_frame_rate). Returns (slow (B, 3, 8, H, W), fast (B, 3, 32, H, W)) float32 tensors on
    the clips' device: fast = the clip_frame_indices frames, x / 255 then (x - 0.45) / (0.225 + 1e-8) in float32
    (HERO `Normalize`), slow = fast frames SLOW_INDICES.
    """
    clips = torch.as_tensor(clips)
    if clips.dim() != 5 or clips.shape[-1] != 3:
        raise ValueError(f"clips must be (B, T, H, W, 3), got {tuple(clips.shape)}")
    index = torch.from_numpy(clip_frame_indices(clips.shape[1], src_fps)).to(clips.device)
    fast = torch.index_select(clips, 1, index).float().permute(0, 4, 1, 2, 3)  # B C T H W
    mean = torch.full((1, 3, 1, 1, 1), MEAN, dtype=torch.float32, device=clips.device)
    std = torch.full((1, 3, 1, 1, 1), STD, dtype=torch.float32, device=clips.device)
    fast = ((fast / 255.0 - mean) / (std + 1e-8)).contiguous()
    slow = torch.index_select(fast, 2, torch.tensor(SLOW_INDICES, device=clips.device))
    return slow, fast


# --------------------------------------------------------------------------------------------------------------
# The network: PySlowFast's SlowFast with ResNet-50 pathways, module and parameter names as PySlowFast's, so that the
# Caffe2 blobs map 1:1 onto state_dict() (convert_slowfast.py). Inference only: batch norm uses its running stats.


class _BatchNorm(nn.Module):
    """Batch norm with fixed statistics (eval mode, eps 1e-5): (B, C, T, H, W) -> same. Holds exactly the four
    tensors of a Caffe2 BN blob set (weight, bias, running_mean, running_var), no num_batches_tracked."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x):
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, BN_EPS)


class _Stem(nn.Module):
    """PySlowFast ResNetBasicStem: conv k(t, 7, 7) s(1, 2, 2) -> BN -> ReLU -> max pool k(1, 3, 3) s(1, 2, 2).
    (B, c_in, T, H, W) -> (B, c_out, T, H / 4, W / 4)."""

    def __init__(self, c_in: int, c_out: int, t_kernel: int):
        super().__init__()
        self.conv = nn.Conv3d(c_in, c_out, (t_kernel, 7, 7), stride=(1, 2, 2), padding=(t_kernel // 2, 3, 3),
                              bias=False)
        self.bn = _BatchNorm(c_out)

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x)))
        return F.max_pool3d(x, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))


class _StemPair(nn.Module):
    """PySlowFast VideoModelStem `s1`: pathway0_stem (slow, t-kernel 1), pathway1_stem (fast, t-kernel 5)."""

    def __init__(self, c_slow: int, c_fast: int):
        super().__init__()
        self.pathway0_stem = _Stem(3, c_slow, 1)
        self.pathway1_stem = _Stem(3, c_fast, 5)

    def forward(self, x):
        return [self.pathway0_stem(x[0]), self.pathway1_stem(x[1])]


class _FuseFastToSlow(nn.Module):
    """PySlowFast FuseFastToSlow (`s{1..4}_fuse`): lateral conv_f2s k(7, 1, 1) s(ALPHA, 1, 1) on the fast pathway
    (c_fast -> 2 c_fast, T_fast -> T_fast / 4) -> BN -> ReLU, concatenated to the slow channels."""

    def __init__(self, c_fast: int):
        super().__init__()
        self.conv_f2s = nn.Conv3d(c_fast, 2 * c_fast, (7, 1, 1), stride=(ALPHA, 1, 1), padding=(3, 0, 0), bias=False)
        self.bn = _BatchNorm(2 * c_fast)

    def forward(self, x):
        fuse = F.relu(self.bn(self.conv_f2s(x[1])))
        return [torch.cat([x[0], fuse], 1), x[1]]


class _BottleneckTransform(nn.Module):
    """PySlowFast BottleneckTransform (`branch2`): a k(t, 1, 1) -> b k(1, 3, 3) with the spatial stride ->
    c k(1, 1, 1), BN after each, ReLU after a and b."""

    def __init__(self, c_in: int, c_out: int, c_inner: int, t_kernel: int, stride: int):
        super().__init__()
        self.a = nn.Conv3d(c_in, c_inner, (t_kernel, 1, 1), padding=(t_kernel // 2, 0, 0), bias=False)
        self.a_bn = _BatchNorm(c_inner)
        self.b = nn.Conv3d(c_inner, c_inner, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False)
        self.b_bn = _BatchNorm(c_inner)
        self.c = nn.Conv3d(c_inner, c_out, 1, bias=False)
        self.c_bn = _BatchNorm(c_out)

    def forward(self, x):
        x = F.relu(self.a_bn(self.a(x)))
        x = F.relu(self.b_bn(self.b(x)))
        return self.c_bn(self.c(x))


class _ResBlock(nn.Module):
    """PySlowFast ResBlock: ReLU(shortcut + branch2(x)); the first block of a stage has the projection shortcut
    branch1 k(1, 1, 1) with the spatial stride + branch1_bn. (B, c_in, T, H, W) -> (B, c_out, T, H / s, W / s)."""

    def __init__(self, c_in: int, c_out: int, c_inner: int, t_kernel: int, stride: int, first: bool):
        super().__init__()
        if first:
            self.branch1 = nn.Conv3d(c_in, c_out, 1, stride=(1, stride, stride), bias=False)
            self.branch1_bn = _BatchNorm(c_out)
        self.branch2 = _BottleneckTransform(c_in, c_out, c_inner, t_kernel, stride)

    def forward(self, x):
        shortcut = self.branch1_bn(self.branch1(x)) if hasattr(self, "branch1") else x
        return F.relu(shortcut + self.branch2(x))


class _ResStage(nn.Module):
    """PySlowFast ResStage `s{2..5}`: blocks pathway{p}_res{i} per pathway; the first carries the stride."""

    def __init__(self, c_in, c_out, c_inner, t_kernels, stride: int, n_blocks: int):
        super().__init__()
        self.n_blocks = n_blocks
        for p in range(2):
            for i in range(n_blocks):
                self.add_module(f"pathway{p}_res{i}", _ResBlock(
                    c_in[p] if i == 0 else c_out[p], c_out[p], c_inner[p], t_kernels[p], stride if i == 0 else 1,
                    first=i == 0))

    def forward(self, x):
        out = []
        for p in range(2):
            y = x[p]
            for i in range(self.n_blocks):
                y = getattr(self, f"pathway{p}_res{i}")(y)
            out.append(y)
        return out


class _Head(nn.Module):
    """PySlowFast ResNetBasicHead: only its projection Linear(feature_dim, 400) holds weights (in the checkpoint,
    unused here: HERO's extractor returns the pooled vector before it)."""

    def __init__(self, feature_dim: int):
        super().__init__()
        self.projection = nn.Linear(feature_dim, NUM_CLASSES)


# (blocks, slow temporal kernel, fast temporal kernel, spatial stride) of s2..s5: ResNet-50 depths, PySlowFast's
# "slowfast" temporal kernel basis, spatial strides [1, 2, 2, 2]
STAGES = ((3, 1, 3, 1), (4, 1, 3, 2), (6, 3, 3, 2), (3, 3, 3, 2))
_BETA_INV = 8  # SLOWFAST.BETA_INV: fast pathway channels = slow / 8


class SlowFastR50(nn.Module):
    """SlowFast 8x8 ResNet-50 (PySlowFast naming so the converted Caffe2 blobs map 1:1; no non-local blocks).

    width: slow stem channels, 64 for the real model (34.57 M parameters with the 400-way head); smaller multiples
    of 8 give the same architecture with every channel count scaled, for fast tests. The fast pathway has width / 8
    channels; the laterals double them (ratio 2) and cut its frames by ALPHA = 4.

    forward(slow (B, 3, 8, H, W), fast (B, 3, 32, H, W)) float32 -> (B, feature_dim): the global average over
    T x H x W of res5 per pathway (HERO: AvgPool3d [8, 7, 7] / [32, 7, 7] at 224 input), [slow 32 width |
    fast 4 width] = [2048 | 256] at width 64. Batch norm always uses the running statistics.
    """

    def __init__(self, width: int = 64):
        super().__init__()
        if width < _BETA_INV or width % _BETA_INV:
            raise ValueError(f"width must be a positive multiple of {_BETA_INV}, got {width}")
        self.width = width
        slow, fast = width, width // _BETA_INV
        self.s1 = _StemPair(slow, fast)
        for k, (n_blocks, t_slow, t_fast, stride) in enumerate(STAGES):
            self.add_module(f"s{k + 1}_fuse", _FuseFastToSlow(fast))
            inner = width * 2 ** k
            out = (4 * inner, 4 * inner // _BETA_INV)
            self.add_module(f"s{k + 2}", _ResStage((slow + 2 * fast, fast), out, (inner, inner // _BETA_INV),
                                                   (t_slow, t_fast), stride, n_blocks))
            slow, fast = out
        # PySlowFast's pathway{0,1}_pool after s2 is a MaxPool3d of kernel 1 (identity): left out
        self.head = _Head(self.feature_dim)

    @property
    def feature_dim(self) -> int:
        return 32 * self.width + 32 * self.width // _BETA_INV

    def forward(self, slow, fast):
        x = self.s1([slow, fast])
        for s in range(1, 5):
            x = getattr(self, f"s{s + 1}")(getattr(self, f"s{s}_fuse")(x))
        return torch.cat([x[0].mean((2, 3, 4)), x[1].mean((2, 3, 4))], 1)


# --------------------------------------------------------------------------------------------------------------
# Weights on disk: safetensors with the state_dict names and the width in the metadata.


def default_weights_path() -> str:
    """Where the converted weights go when no path is given: $XDG_CACHE_HOME (or ~/.cache)/video_lights/."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "video_lights", WEIGHTS_NAME)


def how_to_get_weights(path) -> str:
    """The instruction every 'no weights' error ends with."""
    return (f"download {PKL_NAME} from {PKL_URL} and convert it with "
            f"`python -m video_lights.features.convert_slowfast {PKL_NAME} {path}`")


def save_slowfast(state_dict, width: int, path) -> None:
    """Write a SlowFastR50 state_dict (tensors, the model's names) to `path` as safetensors, atomically; the
    width goes into the metadata. Used by the converter, and by tests to make tiny random weights."""
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in state_dict.items()}
    data = safetensors.torch.save(tensors, metadata={"format": "pt", "model": "SlowFastR50", "width": str(width)})
    with atomic_open(path, "wb") as f:
        f.write(data)


def save_tiny_random(path, width: int = 8, seed: int = 0) -> str:
    """Random SlowFastR50 weights of a small width (feature_dim 36 * width) at `path`, for tests and demos that
    must not download anything. Returns path."""
    torch.manual_seed(seed)
    save_slowfast(SlowFastR50(width).state_dict(), width, path)
    return str(path)


def state_dict_problems(tensors: dict, model: nn.Module, name_of=lambda key: key) -> list:
    """One line per kind of problem of `tensors` ({state_dict name: tensor}) against `model`: missing, unexpected,
    wrong shape or not float32, each naming every tensor concerned; [] when they fit. `name_of(key)` is the name
    printed for a model key (the converter prints Caffe2 blob names)."""
    ours = model.state_dict()
    missing = [name_of(k) for k in ours if k not in tensors]
    unexpected = [k for k in tensors if k not in ours]
    wrong = [f"{name_of(k)} {tuple(tensors[k].shape)} {str(tensors[k].dtype).replace('torch.', '')} "
             f"(model: {tuple(ours[k].shape)} float32)"
             for k in ours if k in tensors and (tuple(tensors[k].shape) != tuple(ours[k].shape)
                                                or tensors[k].dtype != torch.float32)]
    problems = []
    if missing:
        problems.append(f"missing ({len(missing)}): " + ", ".join(missing))
    if unexpected:
        problems.append(f"unexpected ({len(unexpected)}): " + ", ".join(unexpected))
    if wrong:
        problems.append(f"wrong shape or dtype ({len(wrong)}): " + ", ".join(wrong))
    return problems


def load_slowfast(path_or_none=None, device="cpu") -> SlowFastR50:
    """The SlowFastR50 of a .safetensors file made by convert_slowfast (or save_slowfast), in eval mode on
    `device`, without gradients. None: default_weights_path(). Strict: every tensor present, nothing else, the
    model's shapes; the width comes from the file's metadata. SlowFastError naming the file otherwise."""
    path = os.fspath(path_or_none) if path_or_none is not None else default_weights_path()
    if not os.path.isfile(path):
        raise SlowFastError(f"{path}: no SlowFast weights here: {how_to_get_weights(path)}")
    with open(path, "rb") as f:
        head = f.read(1)
    if head == b"\x80":
        raise SlowFastError(f"{path}: this is a pickle (the Caffe2 checkpoint?), not converted weights: convert it "
                            f"with `python -m video_lights.features.convert_slowfast {path} OUT.safetensors`")
    problem = safetensors_problem(path)  # the header only, before safetensors maps the file
    if problem:
        raise SlowFastError(f"{path}: {problem}")
    try:
        with safetensors.safe_open(path, framework="pt") as f:
            metadata = f.metadata() or {}
        tensors = safetensors.torch.load_file(path)
    except Exception as e:  # SafetensorError and friends: truncated, corrupt, not safetensors at all
        raise SlowFastError(f"{path}: not a safetensors file or corrupt ({type(e).__name__}: {e})") from None
    try:
        width = int(metadata["width"])
        with torch.device("meta"):
            model = SlowFastR50(width)
    except (KeyError, ValueError):
        raise SlowFastError(f"{path}: no valid 'width' in the safetensors metadata ({metadata}); make the file "
                            f"with `python -m video_lights.features.convert_slowfast`") from None
    problems = state_dict_problems(tensors, model)
    if problems:
        raise SlowFastError(f"{path}: does not fit SlowFast-R50 (width {width}): " + "; ".join(problems))
    model.load_state_dict(tensors, strict=True, assign=True)
    return model.to(device).eval().requires_grad_(False)


class SlowFastExtractor:
    """SlowFast rows of a video's clips, batched.

    weights: a .safetensors path (None: default_weights_path()) or a SlowFastR50 already built. The model runs in
    eval mode under torch.no_grad(); its inputs are cast to its dtype (so `extractor.model.half()` runs fp16);
    bf16: bfloat16 autocast around the float32 model (features/precision.py).
    """

    def __init__(self, weights, device="cpu", batch_size=8, bf16=False):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.bf16 = bool(bf16)
        model = weights if isinstance(weights, SlowFastR50) else load_slowfast(weights, self.device)
        self.model = model.to(self.device).eval()

    @property
    def feature_dim(self) -> int:
        return self.model.feature_dim

    @torch.no_grad()
    def _run(self, batch, src_fps) -> np.ndarray:
        clips = torch.from_numpy(np.stack(batch)).to(self.device)
        dtype = next(self.model.parameters()).dtype
        slow, fast = pathway_inputs(clips, src_fps)
        with bf16_autocast(self.device, self.bf16):
            rows = self.model(slow.to(dtype), fast.to(dtype))
        return rows.float().cpu().numpy()

    def features(self, clips_iter_or_list, src_fps: int) -> np.ndarray:
        """clips: an iterable of clips (T, H, W, 3) uint8 (ClipAssembler's), or one (N, T, H, W, 3) array;
        src_fps: the source's floor(avg_frame_rate). Returns (n_clips, feature_dim) float32 (the writer casts to
        float16 as HERO does)."""
        self.model.eval()
        rows, batch = [], []
        for clip in clips_iter_or_list:
            batch.append(np.asarray(clip))
            if len(batch) == self.batch_size:
                rows.append(self._run(batch, src_fps))
                batch = []
        if batch:
            rows.append(self._run(batch, src_fps))
        if not rows:
            return np.zeros((0, self.feature_dim), np.float32)
        return np.concatenate(rows)

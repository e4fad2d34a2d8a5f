"""CLIP ViT-B/32 video and text features, made as VideoLights' released ones were: HERO's `clip/extract.py` for
the frames and VideoLights' `run_on_video/data_utils.py::ClipFeatureExtractor` (with its vendored OpenAI
`clip/simple_tokenizer.py` and the 30-token cap of its modified `tokenize`) for the queries, here on HuggingFace's
`CLIPModel` ("openai/clip-vit-base-patch32", the same weights as OpenAI's "ViT-B/32").

    ex = ClipExtractor()                     # hub id from the local Hugging Face cache, or a local directory
    ex.image_features(frames)                # (N, 224, 224, 3) uint8 -> (N, 512) float32, projected CLS
    ex.text_features("A man cooks.")         # {"last_hidden_state": (L <= 32, 512), "pooler_output": (512,)}

The model's sub-modules are called explicitly (vision_model + visual_projection, text_model + text_projection):
`get_image_features` / `get_text_features` changed their return type between transformers 4 and 5.
"""
import gzip
import html
import os
import re
from pathlib import Path

import ftfy
import numpy as np
import torch
import transformers
from transformers import AutoConfig, CLIPConfig, CLIPModel, CLIPTokenizer

from video_lights.features.layouts import DEFAULT_MODELS
from video_lights.features.precision import bf16_autocast
from video_lights.utils.model_files import config_size_problem, model_id_problem, safetensors_problem
from video_lights.utils.cli import UserError

DEFAULT_MODEL = DEFAULT_MODELS["clip"]
# OpenAI CLIP's pixel statistics (also BLIP-2's `blip_image_eval` normalisation).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
# VideoLights' modified `clip.tokenize` keeps the first 30 BPE tokens: SOT + 30 + EOT = 32 rows at most.
MAX_BPE_TOKENS = 30
SOT, EOT = "<|startoftext|>", "<|endoftext|>"


class ModelError(UserError):
    """A model that cannot be loaded (not in the local Hugging Face cache, not a model directory, wrong type, or
    with weights missing); the message names it and says what to download and where it goes."""


# ----------------------------------------------------------------------------------------------------------------
# Text: OpenAI's cleaning and tokenisation

def openai_clean(text: str) -> str:
    """OpenAI CLIP `simple_tokenizer.py` cleaning: ftfy.fix_text, HTML-unescape twice, whitespace runs -> one
    space, strip, lowercase. HuggingFace's CLIPTokenizer does none of the first two (HTML entities and full-width
    letters would tokenise differently without it)."""
    text = ftfy.fix_text(text)
    text = html.unescape(html.unescape(text)).strip()
    return re.sub(r"\s+", " ", text).strip().lower()


def clip_token_ids(tokenizer, text: str) -> list:
    """VideoLights' CLIP token ids of one query: SOT + the first 30 BPE tokens of openai_clean(text) + EOT.

    tokenizer: a CLIPTokenizer (the hub's, or tokenizer_from_bpe). Returns a list of at most 32 ints; these are
    exactly the rows SOT..EOT of the released `last_hidden_state` (no padding, so every id is valid)."""
    bpe = tokenizer(openai_clean(text), add_special_tokens=False, verbose=False)["input_ids"]
    return [tokenizer.bos_token_id] + list(bpe[:MAX_BPE_TOKENS]) + [tokenizer.eos_token_id]


def _bytes_to_unicode() -> dict:
    """OpenAI's `bytes_to_unicode()`: byte -> one character, in its order (the printable Latin-1 bytes stand for
    themselves and come first; the other 68 bytes follow, mapped to code points from 256 up)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    rest = [b for b in range(256) if b not in keep]
    return dict(zip(keep + rest, [chr(b) for b in keep] + [chr(256 + n) for n in range(len(rest))]))


def bpe_vocabulary(merges: list) -> dict:
    """The id of every token, built as OpenAI's SimpleTokenizer does: the 256 byte characters, the same with
    '</w>', one token per merge (in merge order), then SOT and EOT. merges: [(left, right), ...]."""
    alphabet = list(_bytes_to_unicode().values())
    tokens = alphabet + [c + "</w>" for c in alphabet] + ["".join(m) for m in merges] + [SOT, EOT]
    return {t: i for i, t in enumerate(tokens)}


def tokenizer_from_bpe(path) -> CLIPTokenizer:
    """A CLIPTokenizer from OpenAI's merges file `bpe_simple_vocab_16e6.txt.gz` (49408 ids, SOT 49406, EOT
    49407), identical to OpenAI's tokenizer after openai_clean. Raises ModelError when the file is unreadable."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            lines = f.read().split("\n")
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise ModelError(f"{path}: cannot read the CLIP BPE merges file ({e})") from e
    # OpenAI keeps lines 1 .. 48894 (a version header first; 49152 - 256 - 2 merges).
    merges = [tuple(m.split()) for m in lines[1:49152 - 256 - 2 + 1]]
    if len(merges) != 48894 or any(len(m) != 2 for m in merges):
        raise ModelError(f"{path}: not OpenAI's CLIP BPE merges file (expected 48894 lines of two tokens)")
    return CLIPTokenizer(vocab=bpe_vocabulary(merges), merges=merges)


# ----------------------------------------------------------------------------------------------------------------
# Loading (shared with blip2.py)

def _is_local(model: str) -> bool:
    """Whether `model` names a local path rather than a hub id ("owner/name")."""
    return os.path.exists(model) or model.startswith((".", "/", "~")) or model.count("/") > 1 or "\\" in model


def load_pretrained(model_cls, tokenizer_cls, model, model_type: str, default: str, vocab_of, dtype=torch.float32):
    """Load (model, tokenizer) from a hub id resolved in the local Hugging Face cache only (nothing downloads) or
    from a local directory (a hub snapshot: config.json, weights, tokenizer files).

    model_cls, tokenizer_cls: the transformers classes; model_type: the config's expected `model_type`; default:
    the hub id named in the error messages; vocab_of(config): the model's token-embedding count, which the
    tokenizer's base vocabulary must match (up to 8 extra embeddings, e.g. LAVIS' [DEC] token) -- transformers
    builds an empty tokenizer without complaint when the tokenizer files are missing. Raises ModelError naming
    what to download and where it goes, or naming a malformed hub id, a config.json over 1 MB or a .safetensors
    file whose header is malformed (utils/model_files.py; checked before transformers reads them)."""
    transformers.utils.logging.disable_progress_bar()  # one line per failure, not a progress bar per load
    model = str(model)
    hub = not _is_local(model)
    if not hub:
        path = Path(model).expanduser()
        where = f"{path}: "
        how = (f"pass a directory holding config.json, the weights and the tokenizer files, e.g. made by "
               f"`hf download {default} --local-dir {path}`")
        if not path.is_dir():
            raise ModelError(f"{where}not a directory; {how}")
        check_model_files(path)
        source = str(path)
    else:
        problem = model_id_problem(model)
        if problem:
            raise ModelError(f"{problem}; pass a hub id such as {default} or a local directory")
        from huggingface_hub import constants
        where = f"{model}: "
        how = (f"download it into the Hugging Face cache ({constants.HF_HUB_CACHE}; HF_HOME / HF_HUB_CACHE move it) "
               f"with `hf download {model}` (huggingface_hub >= 1.0; before: `huggingface-cli download {model}`), "
               f"or pass a local directory")
        snapshot = cached_snapshot(model)
        if snapshot is not None:  # the same checks as a local directory's, and transformers reads what was checked
            check_model_files(snapshot)
        source = str(snapshot) if snapshot is not None else model
    try:
        config = AutoConfig.from_pretrained(source, local_files_only=True)
    except (OSError, ValueError) as e:
        found = "not in the local Hugging Face cache" if hub else f"no usable config.json ({_first_line(e)})"
        raise ModelError(f"{where}{found}; {how}") from e
    if config.model_type != model_type:
        raise ModelError(f"{where}is a {config.model_type!r} model, expected {model_type!r} (like {default})")
    try:
        net, info = model_cls.from_pretrained(source, config=config, local_files_only=True, dtype=dtype,
                                              output_loading_info=True)
        tokenizer = tokenizer_cls.from_pretrained(source, local_files_only=True)
    except (OSError, ValueError, RuntimeError) as e:
        raise ModelError(f"{where}cannot load the weights or the tokenizer ({_first_line(e)}); {how}") from e
    missing = sorted(info.get("missing_keys") or [])
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise ModelError(f"{where}the weights lack {len(missing)} tensors ({shown}); {how}")
    expected = vocab_of(config)
    if not expected - 8 <= tokenizer.vocab_size <= expected:
        raise ModelError(f"{where}the tokenizer has {tokenizer.vocab_size} tokens for a model with {expected} "
                         f"token embeddings (tokenizer files missing or from another model); {how}")
    return net.eval(), tokenizer


def cached_snapshot(model: str):
    """The folder of hub id `model`'s snapshot in the local Hugging Face cache (its `main` ref), or None when it is
    not cached; never downloads."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError
    try:
        return Path(snapshot_download(model, local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError):
        return None


def check_model_files(directory: Path) -> None:
    """ModelError naming a local model directory's config.json over 1 MB or a .safetensors file with a
    malformed header (utils/model_files.py safetensors_problem: reads the headers only)."""
    config = directory / "config.json"
    problem = config.is_file() and config_size_problem(config)
    if problem:
        raise ModelError(f"{config}: {problem}")
    for weights in sorted(directory.glob("*.safetensors")):
        problem = safetensors_problem(weights)
        if problem:
            raise ModelError(f"{weights}: {problem}")


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


# ----------------------------------------------------------------------------------------------------------------
# Frames

def check_frames(frames, size: int) -> np.ndarray:
    """frames as a uint8 array (N, size, size, 3); raises ValueError for anything else."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[1:] != (size, size, 3):
        raise ValueError(f"frames must be uint8 (N, {size}, {size}, 3), got {frames.dtype} {frames.shape}")
    return frames


def pixel_values(frames: np.ndarray, device, dtype, eps: float) -> torch.Tensor:
    """uint8 (B, H, W, 3) RGB -> normalised (B, 3, H, W) in `dtype` on `device`: x / 255, then
    (x - CLIP_MEAN) / (CLIP_STD + eps), computed in float32."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2)
    return normalize_pixels(x, dtype, eps)


def normalize_pixels(x: torch.Tensor, dtype, eps: float) -> torch.Tensor:
    """Pixels 0..255 (B, 3, H, W), any number type -> (x / 255 - CLIP_MEAN) / (CLIP_STD + eps) in `dtype`,
    computed in float32."""
    x = x.float() / 255.0
    mean = torch.tensor(CLIP_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=x.device).view(1, 3, 1, 1)
    return ((x - mean) / (std + eps)).to(dtype)


# ----------------------------------------------------------------------------------------------------------------

class ClipExtractor:
    """CLIP image and text features from a HuggingFace CLIPModel (+ CLIPTokenizer).

    model: hub id looked up in the local Hugging Face cache only, a local directory, or a CLIPModel; dtype: the
    weights' dtype (float32; torch.float16 on CUDA as OpenAI CLIP runs there); batch_size: frames per forward pass;
    bf16: bfloat16 autocast around float32 weights (features/precision.py)."""

    def __init__(self, model=DEFAULT_MODEL, device="cpu", batch_size=64, dtype=torch.float32, tokenizer=None,
                 bf16=False):
        if isinstance(model, CLIPModel):  # an already built model (benchmarks); text features need `tokenizer`
            self.model, self.tokenizer = model.to(dtype).eval(), tokenizer
        else:
            self.model, self.tokenizer = load_pretrained(CLIPModel, CLIPTokenizer, model, "clip", DEFAULT_MODEL,
                                                         lambda config: config.text_config.vocab_size, dtype)
        self.device = torch.device(device)
        self.dtype = dtype
        self.bf16 = bool(bf16)
        self.batch_size = int(batch_size)
        self.model.to(self.device)
        self._image_size = self.model.config.vision_config.image_size

    @property
    def image_dim(self) -> int:
        """Width of an image row (the projection width, 512 for ViT-B/32)."""
        return self.model.config.projection_dim

    @property
    def text_dim(self) -> int:
        """Width of a `last_hidden_state` row (the text transformer width, 512 for ViT-B/32)."""
        return self.model.config.text_config.hidden_size

    @torch.no_grad()
    def image_features(self, frames) -> np.ndarray:
        """frames uint8 (N, 224, 224, 3) RGB -> float32 (N, image_dim): `visual_projection(ln_post(CLS))`, OpenAI's
        `encode_image`, not L2-normalised. Pixels: x / 255, then (x - mean) / (std + 1e-8) as HERO's extractor."""
        frames = check_frames(frames, self._image_size)
        out = np.empty((len(frames), self.image_dim), np.float32)
        for i in range(0, len(frames), self.batch_size):
            pixels = pixel_values(frames[i:i + self.batch_size], self.device, self.dtype, eps=1e-8)
            with bf16_autocast(self.device, self.bf16):
                cls = self.model.vision_model(pixel_values=pixels).pooler_output  # (B, hidden), post-LayerNorm
                rows = self.model.visual_projection(cls)
            out[i:i + len(pixels)] = rows.float().cpu().numpy()
        return out

    def token_ids(self, query: str) -> list:
        """SOT + the first 30 BPE tokens of the cleaned query + EOT (at most 32 ids); see clip_token_ids."""
        return clip_token_ids(self.tokenizer, query)

    @torch.no_grad()
    def text_features(self, query: str) -> dict:
        """One query -> {"last_hidden_state": float32 (L, text_dim), rows SOT..EOT with L <= 32, after
        `final_layer_norm` and before the projection; "pooler_output": float32 (image_dim,), the EOT row
        projected by `text_projection`}."""
        input_ids = torch.tensor([self.token_ids(query)], device=self.device)  # one query: no padding
        with bf16_autocast(self.device, self.bf16):
            out = self.model.text_model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids))
            pooled = self.model.text_projection(out.pooler_output)[0]
        return {"last_hidden_state": out.last_hidden_state[0].float().cpu().numpy(),
                "pooler_output": pooled.float().cpu().numpy()}


# ----------------------------------------------------------------------------------------------------------------
# Tiny random weights for tests

TINY_WORDS = ("a", "man", "woman", "the", "is", "in", "on", "of", "and", "with", "dog", "cat", "cooks", "plays",
              "walks", "food", "street", "video", "talks", "about")


def _tiny_tokenizer() -> CLIPTokenizer:
    """A byte-level BPE with OpenAI's layout (256 bytes, 256 '</w>' bytes, merges, SOT, EOT last) and merges that
    make each of TINY_WORDS one token; any text tokenises (unknown words fall back to bytes)."""
    alphabet = _bytes_to_unicode()
    merges = []
    for word in TINY_WORDS:
        pieces = [alphabet[b] for b in word.encode("utf-8")]
        pieces[-1] += "</w>"
        left = pieces[0]
        for right in pieces[1:]:
            if (left, right) not in merges:
                merges.append((left, right))
            left += right
    return CLIPTokenizer(vocab=bpe_vocabulary(merges), merges=merges)


def save_tiny_random(directory, vocab_path=None, seed=0) -> str:
    """Write a tiny random CLIPModel (width 32, 2 layers, patch 32 on 224 images, projection 16) and its tokenizer
    to `directory`, laid out like a hub snapshot so that ClipExtractor(directory) loads it. vocab_path: OpenAI's
    `bpe_simple_vocab_16e6.txt.gz` for the real tokenizer (49408 ids); None: a tiny byte-level BPE. Returns the
    directory."""
    tokenizer = tokenizer_from_bpe(vocab_path) if vocab_path is not None else _tiny_tokenizer()
    vocab_size = len(tokenizer)
    sot, eot = tokenizer.bos_token_id, tokenizer.eos_token_id
    config = CLIPConfig(
        text_config=dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=77, bos_token_id=sot, eos_token_id=eot,
                         pad_token_id=eot),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                           image_size=224, patch_size=32),
        projection_dim=16)
    return save_snapshot(CLIPModel, config, tokenizer, directory, seed)


def save_snapshot(model_cls, config, tokenizer, directory, seed=0) -> str:
    """A random `model_cls(config)` and `tokenizer` written to `directory` like a hub snapshot. Returns it."""
    torch.manual_seed(seed)
    model = model_cls(config).eval()
    os.makedirs(directory, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return str(directory)

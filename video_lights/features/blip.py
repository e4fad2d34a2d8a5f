"""BLIP-1 captions and image-text matching scores, as VideoLights' `extract_feature/
pretrain_data_generator_using_blip2.py` made its synthetic pretraining queries with LAVIS (`blip_caption`
"large_coco" and `blip_image_text_matching` "base"), here on HuggingFace's `BlipForConditionalGeneration`
("Salesforce/blip-image-captioning-large") and `BlipForImageTextRetrieval` ("Salesforce/blip-itm-base-coco").

    captioner = BlipCaptioner()              # hub id from the local Hugging Face cache, or a local directory
    captioner.captions(frames)               # (N, 224, 224, 3) uint8 -> N strings, the prompt stripped
    matcher = BlipMatcher()
    matcher.match_probabilities(frames, [(0, "a man cooks"), ...])   # -> (P,) float32 softmax(ITM)[1]

Both take HERO's 224 crops (features/decode.py) and apply LAVIS' `blip_image_eval` transform themselves: PIL's
bicubic resize of the 224 crop to the model's 384 (re-implemented exactly with torch ops, see resize_like_pil),
x / 255, then (x - mean) / std with CLIP's mean and std.
"""
import functools

import numpy as np
import torch
from transformers import BertTokenizer, BlipConfig, BlipForConditionalGeneration, BlipForImageTextRetrieval
from transformers import GenerationConfig

from video_lights.features.blip2 import blip_caption_clean
from video_lights.features.clip import ModelError, check_frames, load_pretrained, normalize_pixels, save_snapshot
from video_lights.features.layouts import DEFAULT_MODELS
from video_lights.features.precision import bf16_autocast

DEFAULT_CAPTIONER = DEFAULT_MODELS["blip_captioner"]
DEFAULT_MATCHER = DEFAULT_MODELS["blip_itm"]
# LAVIS blip_caption "large_coco": prompt, beam search 3, max_length 30, min_length 10, no sampling
PROMPT = "a picture of "
NUM_BEAMS, MAX_LENGTH, MIN_LENGTH = 3, 30, 10
MAX_TEXT_TOKENS = 35        # LAVIS BlipITM max_txt_len


# ----------------------------------------------------------------------------------------------------------------
# LAVIS' blip_image_eval: PIL bicubic resize, ToTensor, Normalize

_PRECISION_BITS = 32 - 8 - 2      # PIL's fixed-point coefficients for 8-bit images (Resample.c)


def _bicubic(x: np.ndarray) -> np.ndarray:
    """PIL's bicubic kernel (a = -0.5, support 2)."""
    a = -0.5
    x = np.abs(x)
    return np.where(x < 1, ((a + 2) * x - (a + 3)) * x * x + 1,
                    np.where(x < 2, (((x - 5) * x + 8) * x - 4) * a, 0.0))


@functools.lru_cache(maxsize=8)
def pil_bicubic_taps(in_size: int, out_size: int) -> tuple:
    """One pass of PIL's bicubic resample as taps (Resample.c precompute_coeffs + normalize_coeffs_8bpc): for
    output pixel i, centre = (i + 0.5) * scale, taps j from int(centre - support + 0.5) to
    int(centre + support + 0.5) (clipped to the image), weights bicubic((j - centre + 0.5) / filterscale)
    normalised to sum 1, then rounded half away from zero to 22-bit fixed point.

    Returns (index, weight), both int64 (out_size, K), K the most taps of a pixel (unused taps: index 0, weight
    0); read-only arrays (cached)."""
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = 2.0 * filterscale
    rows = []
    for i in range(out_size):
        centre = (i + 0.5) * scale
        lo = max(int(centre - support + 0.5), 0)
        hi = min(int(centre + support + 0.5), in_size)
        k = _bicubic((np.arange(lo, hi) - centre + 0.5) / filterscale)
        total = k.sum()
        if total != 0:
            k = k / total
        fixed = k * (1 << _PRECISION_BITS)
        rows.append((lo, np.where(fixed < 0, np.trunc(fixed - 0.5), np.trunc(fixed + 0.5)).astype(np.int64)))
    taps = max(len(w) for _, w in rows)
    index = np.zeros((out_size, taps), np.int64)
    weight = np.zeros((out_size, taps), np.int64)
    for i, (lo, w) in enumerate(rows):
        index[i, :len(w)] = np.arange(lo, lo + len(w))
        weight[i, :len(w)] = w
    index.flags.writeable = weight.flags.writeable = False
    return index, weight


def _pass(x: torch.Tensor, in_size: int, size: int, dim: int) -> torch.Tensor:
    """One pass along `dim` of int32 pixels 0..255: the fixed-point sum over the taps, + 2**21, >> 22, clipped to
    0..255 (PIL's clip8), in int32 as PIL computes it (no sum overflows)."""
    index, weight = (torch.tensor(a, device=x.device) for a in pil_bicubic_taps(in_size, size))
    weight = weight.to(torch.int32)
    shape = [1] * x.dim()
    shape[dim] = size
    acc = torch.full((), 1 << (_PRECISION_BITS - 1), dtype=torch.int32, device=x.device)
    for k in range(index.shape[1]):
        acc = acc + x.index_select(dim, index[:, k]) * weight[:, k].view(shape)
    return (acc >> _PRECISION_BITS).clamp_(0, 255)


def resize_like_pil(frames: torch.Tensor, size: int) -> torch.Tensor:
    """PIL's `Image.resize((size, size), Image.BICUBIC)` of RGB uint8 frames, bit for bit: a horizontal pass into
    an 8-bit intermediate image, then a vertical pass (PIL's order), each in PIL's 22-bit fixed point, on any
    device.

    frames: uint8 (B, H, W, 3) -> int32 (B, 3, size, size) holding 0..255 (channels first)."""
    _, h, w, _ = frames.shape
    x = frames.permute(0, 3, 1, 2).to(torch.int32)    # (B, 3, H, W)
    if w != size:
        x = _pass(x, w, size, dim=3)                # (B, 3, H, size)
    if h != size:
        x = _pass(x, h, size, dim=2)                # (B, 3, size, size)
    return x


def blip_pixels(frames: np.ndarray, size: int, device, dtype) -> torch.Tensor:
    """LAVIS `blip_image_eval` (image_size `size`) of 224 crops: uint8 (B, 224, 224, 3) RGB -> (B, 3, size, size)
    in `dtype` on `device`: PIL bicubic resize to size x size, x / 255, (x - CLIP_MEAN) / CLIP_STD (torchvision's
    Normalize: no epsilon)."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).to(device)
    return normalize_pixels(resize_like_pil(x, size), dtype, eps=0.0)


# ----------------------------------------------------------------------------------------------------------------

def _load(model_cls, model, default, device, dtype, tokenizer):
    """(model in `dtype` on `device`, tokenizer) from a hub id (local cache only), a directory, or a built model."""
    if isinstance(model, model_cls):  # an already built model (benchmarks)
        net = model.eval()
    else:
        net, tokenizer = load_pretrained(model_cls, BertTokenizer, model, "blip", default,
                                         lambda config: config.text_config.vocab_size)
    return net.to(device=device, dtype=dtype), tokenizer


class BlipCaptioner:
    """Captions of frames from a HuggingFace BlipForConditionalGeneration (+ its BertTokenizer), decoded as LAVIS'
    `BlipCaption.generate(num_beams=3, max_length=30, min_length=10, use_nucleus_sampling=False)`.

    model: hub id looked up in the local Hugging Face cache only, a local directory, or a
    BlipForConditionalGeneration (then `tokenizer` is needed); dtype: float32 (LAVIS), torch.float16 on CUDA for
    speed; bf16: bfloat16 autocast around float32 weights (features/precision.py); batch_size: frames per generate
    call."""

    def __init__(self, model=DEFAULT_CAPTIONER, device="cpu", batch_size=16, dtype=torch.float32, tokenizer=None,
                 bf16=False):
        self.device = torch.device(device)
        self.model, self.tokenizer = _load(BlipForConditionalGeneration, model, DEFAULT_CAPTIONER, self.device,
                                           dtype, tokenizer)
        self.dtype = dtype
        self.bf16 = bool(bf16)
        self.batch_size = int(batch_size)
        self._image_size = self.model.config.vision_config.image_size
        text = self.model.config.text_config
        # LAVIS: the prompt's [CLS] becomes the [DEC] bos token and its final [SEP] is dropped
        # (BlipForConditionalGeneration.generate does both to the ids it is given).
        self._prompt_ids = self.tokenizer(PROMPT, verbose=False)["input_ids"]
        # the recipe replaces whatever generation defaults the snapshot carries (generate runs the text decoder's)
        self.model.text_decoder.generation_config = GenerationConfig(
            num_beams=NUM_BEAMS, max_length=MAX_LENGTH, min_length=MIN_LENGTH, do_sample=False,
            bos_token_id=text.bos_token_id, eos_token_id=text.sep_token_id, pad_token_id=text.pad_token_id)

    @torch.no_grad()
    def generate(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """pixel_values (B, 3, 384, 384) -> token ids (B, T <= 30): [DEC], the prompt's words, the caption,
        [SEP] (then [PAD] up to the longest of the batch)."""
        prompt = torch.tensor([self._prompt_ids] * len(pixel_values), device=self.device)
        with bf16_autocast(self.device, self.bf16):
            return self.model.generate(pixel_values=pixel_values, input_ids=prompt)

    def captions(self, frames) -> list:
        """frames uint8 (N, 224, 224, 3) RGB -> N captions: the beam-search output decoded without special tokens
        (tokenisation spaces cleaned up, as the transformers LAVIS ran with), minus its first len(PROMPT)
        characters (LAVIS' `output[len(self.prompt):]`). A caption can be empty (the model wrote nothing after
        the prompt); the caller decides what that means."""
        frames = check_frames(frames, 224)
        out = []
        for i in range(0, len(frames), self.batch_size):
            ids = self.generate(blip_pixels(frames[i:i + self.batch_size], self._image_size, self.device, self.dtype))
            texts = self.tokenizer.batch_decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=True)
            out += [t[len(PROMPT):] for t in texts]
        return out


class BlipMatcher:
    """Image-text matching probabilities from a HuggingFace BlipForImageTextRetrieval (+ its BertTokenizer), as
    LAVIS' `BlipITM(match_head="itm")`: the text encoder reads `[ENC] tokens [SEP]` (LAVIS replaces [CLS] by its
    [ENC] token, which HuggingFace's forward does not do; [ENC] = [DEC] + 1, the order in which LAVIS'
    `init_tokenizer` added them, 30523) with cross-attention over the ViT's last hidden state; p = softmax of the
    ITM head on the first token, class 1 ("match").

    model: hub id looked up in the local Hugging Face cache only, a local directory, or a BlipForImageTextRetrieval
    (then `tokenizer` is needed); dtype: float32 (LAVIS), torch.float16 on CUDA for speed; bf16: bfloat16 autocast
    around float32 weights (features/precision.py); batch_size: frames or frame-text pairs per forward pass."""

    def __init__(self, model=DEFAULT_MATCHER, device="cpu", batch_size=16, dtype=torch.float32, tokenizer=None,
                 bf16=False):
        self.device = torch.device(device)
        self.model, self.tokenizer = _load(BlipForImageTextRetrieval, model, DEFAULT_MATCHER, self.device, dtype,
                                           tokenizer)
        self.dtype = dtype
        self.bf16 = bool(bf16)
        self.batch_size = int(batch_size)
        self._image_size = self.model.config.vision_config.image_size
        text = self.model.config.text_config
        self.enc_token_id = text.bos_token_id + 1
        if not 0 <= self.enc_token_id < text.vocab_size:
            raise ModelError(f"BLIP ITM model: no [ENC] token embedding (id {self.enc_token_id}, vocabulary "
                             f"{text.vocab_size}); expected a model like {DEFAULT_MATCHER}")

    def _text_inputs(self, texts: list) -> tuple:
        """(input_ids, attention_mask), both (P, L): blip_caption_clean(text) tokenised, padded to the longest,
        truncated to 35 tokens, with [ENC] in place of [CLS]."""
        enc = self.tokenizer([blip_caption_clean(t) for t in texts], padding="longest", truncation=True,
                             max_length=MAX_TEXT_TOKENS, return_tensors="pt", verbose=False)
        ids = enc["input_ids"].clone()
        ids[:, 0] = self.enc_token_id
        return ids.to(self.device), enc["attention_mask"].to(self.device)

    @torch.no_grad()
    def image_embeddings(self, frames) -> torch.Tensor:
        """frames uint8 (M, 224, 224, 3) RGB -> the ViT's last hidden state (M, 1 + patches, vision width), in
        `dtype` on the device."""
        frames = check_frames(frames, 224)
        with bf16_autocast(self.device, self.bf16):
            return torch.cat([self.model.vision_model(pixel_values=blip_pixels(
                frames[i:i + self.batch_size], self._image_size, self.device, self.dtype)).last_hidden_state
                for i in range(0, len(frames), self.batch_size)])

    @torch.no_grad()
    def match_probabilities(self, frames, pairs) -> np.ndarray:
        """frames uint8 (M, 224, 224, 3); pairs [(frame index, text)] -> float32 (P,): p = softmax(ITM logits)[1]
        of each pair, computed in float32. Each frame named by a pair goes through the ViT once, whatever the
        number of its texts; the others not at all."""
        if not pairs:
            return np.zeros(0, np.float32)
        used = sorted({f for f, _ in pairs})
        row = {f: i for i, f in enumerate(used)}
        images = self.image_embeddings(np.asarray(frames)[used])                 # (U, 1 + patches, width)
        out = []
        for i in range(0, len(pairs), self.batch_size):
            chunk = pairs[i:i + self.batch_size]
            ids, mask = self._text_inputs([t for _, t in chunk])                 # (B, L)
            embeds = images[torch.tensor([row[f] for f, _ in chunk], device=images.device)]
            with bf16_autocast(self.device, self.bf16):
                hidden = self.model.text_encoder(
                    input_ids=ids, attention_mask=mask, encoder_hidden_states=embeds,
                    encoder_attention_mask=torch.ones(embeds.shape[:-1], dtype=torch.long, device=embeds.device),
                ).last_hidden_state                                               # (B, L, text width)
                logits = self.model.itm_head(hidden[:, 0]).float()                # (B, 2)
            out.append(torch.softmax(logits, dim=1)[:, 1].cpu().numpy())
        return np.concatenate(out)


# ----------------------------------------------------------------------------------------------------------------
# Tiny random weights for tests

def tiny_config(tokenizer, vision_width=32, text_width=32) -> BlipConfig:
    """A tiny BlipConfig for `tokenizer` (a BertTokenizer whose vocabulary has [PAD], [CLS], [SEP], [UNK]): ViT of
    width 32, 2 layers, patch 64 on 384 images; BERT-style text model of width 32, 2 layers; its vocabulary is the
    tokenizer's plus [DEC] (bos) and [ENC], as LAVIS' tokenizer adds them."""
    n = len(tokenizer)
    return BlipConfig(
        vision_config=dict(hidden_size=vision_width, intermediate_size=2 * vision_width, num_hidden_layers=2,
                           num_attention_heads=4, image_size=384, patch_size=64, initializer_range=0.02),
        text_config=dict(vocab_size=n + 2, hidden_size=text_width, intermediate_size=2 * text_width,
                         num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=64, bos_token_id=n,
                         sep_token_id=tokenizer.sep_token_id, pad_token_id=tokenizer.pad_token_id,
                         eos_token_id=tokenizer.sep_token_id),
        image_text_hidden_size=16)


def save_tiny_random_captioner(directory, tokenizer, seed=0) -> str:
    """Write a random BlipForConditionalGeneration of tiny_config(tokenizer) and the tokenizer to `directory`, laid
    out like a hub snapshot so that BlipCaptioner(directory) loads it. Returns the directory."""
    return save_snapshot(BlipForConditionalGeneration, tiny_config(tokenizer), tokenizer, directory, seed)


def save_tiny_random_matcher(directory, tokenizer, seed=0) -> str:
    """Write a random BlipForImageTextRetrieval of tiny_config(tokenizer) and the tokenizer to `directory`, laid
    out like a hub snapshot so that BlipMatcher(directory) loads it. Returns the directory."""
    return save_snapshot(BlipForImageTextRetrieval, tiny_config(tokenizer), tokenizer, directory, seed)


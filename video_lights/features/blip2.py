"""BLIP-2 video and text features, made as VideoLights' `extract_feature/extract_query_blip_features_*.py` made them
with LAVIS `load_model_and_preprocess("blip2_feature_extractor", "pretrain")`, here on HuggingFace's
`Blip2ForImageTextRetrieval` ("Salesforce/blip2-itm-vit-g", the HF conversion of the same `pretrain` weights).

    ex = Blip2Extractor()                    # hub id from the local Hugging Face cache, or a local directory
    ex.image_features(frames)                # (N, 224, 224, 3) uint8 -> (N, 768) float32, Q-Former query token 0
    ex.text_features("A man cooks.")         # {"last_hidden_state": (L, 768), "pooler_output": (768,) = row 0}

The sub-modules are called explicitly (vision_model, query_tokens, qformer, embeddings), as LAVIS'
`Blip2Qformer.extract_features` does, without Blip2Processor (which inserts image placeholder tokens).
"""
import re

import numpy as np
import torch
from transformers import Blip2Config, Blip2ForImageTextRetrieval, BertTokenizer

from video_lights.features.clip import ModelError, check_frames, load_pretrained, pixel_values, save_snapshot
from video_lights.features.layouts import DEFAULT_MODELS
from video_lights.features.precision import bf16_autocast

DEFAULT_MODEL = DEFAULT_MODELS["blip2"]
MAX_WORDS = 50      # LAVIS `blip_caption` processor default


def blip_caption_clean(text: str) -> str:
    """LAVIS `BlipCaptionProcessor.pre_caption` (the "eval" text processor of blip2_feature_extractor): lowercase;
    each of . ! " ( ) * # : ; ~ -> a space; runs of >= 2 whitespace characters -> one space; strip trailing
    newlines, then spaces; keep the first 50 space-separated words. Commas, apostrophes and "?" survive."""
    text = re.sub(r"([.!\"()*#:;~])", " ", text.lower())
    text = re.sub(r"\s{2,}", " ", text)
    text = text.rstrip("\n").strip(" ")
    words = text.split(" ")
    return " ".join(words[:MAX_WORDS]) if len(words) > MAX_WORDS else text


class Blip2Extractor:
    """BLIP-2 image and text features from a HuggingFace Blip2ForImageTextRetrieval (+ BertTokenizer).

    model: hub id looked up in the local Hugging Face cache only, a local directory, or a Blip2ForImageTextRetrieval;
    dtype: the dtype of the
    vision transformer (float32; torch.float16 on CUDA, as LAVIS runs its ViT-g under fp16 -- the Q-Former, the
    query tokens and the text embeddings stay float32 as in LAVIS); batch_size: frames per forward pass; bf16:
    bfloat16 autocast around float32 weights (features/precision.py)."""

    def __init__(self, model=DEFAULT_MODEL, device="cpu", batch_size=64, dtype=torch.float32, tokenizer=None,
                 bf16=False):
        if isinstance(model, Blip2ForImageTextRetrieval):  # an already built model (benchmarks)
            self.model, self.tokenizer = model.eval(), tokenizer
        else:
            self.model, self.tokenizer = load_pretrained(Blip2ForImageTextRetrieval, BertTokenizer, model, "blip-2",
                                                         DEFAULT_MODEL, lambda config: config.qformer_config.vocab_size)
        self.model.vision_model.to(dtype)
        self.device = torch.device(device)
        self.dtype = dtype
        self.bf16 = bool(bf16)
        self.batch_size = int(batch_size)
        self.model.to(self.device)
        self._image_size = self.model.config.vision_config.image_size
        self._max_positions = self.model.config.qformer_config.max_position_embeddings

    @property
    def image_dim(self) -> int:
        """Width of an image row (the Q-Former width, 768)."""
        return self.model.config.qformer_config.hidden_size

    @property
    def text_dim(self) -> int:
        """Width of a text row (the Q-Former width, 768)."""
        return self.model.config.qformer_config.hidden_size

    @torch.no_grad()
    def image_features(self, frames) -> np.ndarray:
        """frames uint8 (N, 224, 224, 3) RGB -> float32 (N, image_dim): the Q-Former output of query token 0 over
        the ViT's last hidden state (already through `post_layernorm`, LAVIS' `ln_vision`), before `vision_proj`,
        not normalised. Pixels: x / 255, then (x - mean) / std with CLIP's mean/std (`blip_image_eval`; its
        224x224 bicubic resize is a no-op on 224x224 frames)."""
        frames = check_frames(frames, self._image_size)
        out = np.empty((len(frames), self.image_dim), np.float32)
        for i in range(0, len(frames), self.batch_size):
            pixels = pixel_values(frames[i:i + self.batch_size], self.device, self.dtype, eps=0.0)
            with bf16_autocast(self.device, self.bf16):
                patches = self.model.vision_model(pixel_values=pixels).last_hidden_state  # (B, 1 + P, vision width)
                patch_mask = torch.ones(patches.shape[:-1], dtype=torch.long, device=patches.device)
                queries = self.model.query_tokens.expand(len(pixels), -1, -1)            # (B, Q, 768)
                q = self.model.qformer(query_embeds=queries, encoder_hidden_states=patches,
                                       encoder_attention_mask=patch_mask).last_hidden_state  # (B, Q, 768)
            out[i:i + len(pixels)] = q[:, 0].float().cpu().numpy()
        return out

    def token_ids(self, query: str) -> list:
        """[CLS] + WordPiece ids of blip_caption_clean(query) + [SEP]; no truncation (LAVIS pads only)."""
        ids = self.tokenizer(blip_caption_clean(query), verbose=False)["input_ids"]
        if len(ids) > self._max_positions:
            raise ModelError(f"query {query[:60]!r}: {len(ids)} tokens, more than the Q-Former's "
                             f"{self._max_positions} positions")
        return ids

    @torch.no_grad()
    def text_features(self, query: str) -> dict:
        """One query -> {"last_hidden_state": float32 (L, text_dim), rows [CLS] .. [SEP] of the Q-Former's
        text-only pass (no query tokens, no cross-attention); "pooler_output": float32 (text_dim,), row 0 ([CLS],
        unprojected)}."""
        input_ids = torch.tensor([self.token_ids(query)], device=self.device)
        mask = torch.ones_like(input_ids)
        with bf16_autocast(self.device, self.bf16):
            embeds = self.model.embeddings(input_ids=input_ids)                          # (1, L, 768)
            hidden = self.model.qformer(query_embeds=embeds, query_length=0, attention_mask=mask).last_hidden_state
        rows = hidden[0].float().cpu().numpy()
        return {"last_hidden_state": rows, "pooler_output": rows[0].copy()}


# ----------------------------------------------------------------------------------------------------------------
# Tiny random weights for tests

TINY_WORDS = ("a", "man", "woman", "the", "is", "in", "on", "of", "and", "with", "dog", "cat", "cook", "play",
              "walk", "food", "street", "video", "talk", "about", "it", "up", "cuts", "pizza", "chef", "makes",
              "?", ",", "'", "s", "##s", "##ing", "##ed")


def tiny_tokenizer() -> BertTokenizer:
    """A BertTokenizer of a few dozen words plus the special tokens (tests, benchmarks)."""
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list(TINY_WORDS)
    return BertTokenizer(vocab={w: i for i, w in enumerate(vocab)})


def save_tiny_random(directory, seed=0) -> str:
    """Write a tiny random Blip2ForImageTextRetrieval (ViT width 32, 2 layers, patch 32 on 224 images; Q-Former
    width 32, 2 layers, text input enabled, 4 query tokens) and a BertTokenizer of a few dozen words to
    `directory`, laid out like a hub snapshot so that Blip2Extractor(directory) loads it. Returns the directory."""
    tokenizer = tiny_tokenizer()
    vocab = tokenizer.vocab
    config = Blip2Config(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                           image_size=224, patch_size=32, initializer_range=0.02),
        qformer_config=dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                            num_attention_heads=4, max_position_embeddings=128, use_qformer_text_input=True),
        text_config=dict(model_type="opt", vocab_size=64, hidden_size=16, ffn_dim=32, num_hidden_layers=1,
                         num_attention_heads=2, word_embed_proj_dim=16),
        num_query_tokens=4, image_text_hidden_size=16)
    return save_snapshot(Blip2ForImageTextRetrieval, config, tokenizer, directory, seed)

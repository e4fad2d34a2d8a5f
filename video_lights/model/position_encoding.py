"""Positional encodings: sine encoding of clip positions, the (unused by default) trainable text encoding,
and the sine embedding of decoder anchors (center, width)."""
import math

import torch
from torch import nn

from video_lights.model.dropout import Dropout


class PositionEmbeddingSine(nn.Module):
    """DETR's sine encoding over the time axis, normalised by each sample's valid length.

    Clip i (1-based) of a sample with L valid clips sits at i / L * 2π; padded clips sit at 2π.
    Output channels interleave sin (even) and cos (odd).
    """

    def __init__(self, num_pos_feats=256, temperature=10000, scale=2 * math.pi):
        super().__init__()
        self.num_pos_feats = num_pos_feats
        self.temperature = temperature
        self.scale = scale

    def forward(self, mask):
        """mask: (B, L) float or bool, 1 = valid. Returns (B, L, num_pos_feats) float32."""
        x_embed = mask.cumsum(1, dtype=torch.float32)  # (B, L)
        x_embed = x_embed / (x_embed[:, -1:] + 1e-6) * self.scale
        dim_t = torch.arange(self.num_pos_feats, dtype=torch.float32, device=mask.device)
        dim_t = self.temperature ** (2 * (dim_t // 2) / self.num_pos_feats)
        pos_x = x_embed[:, :, None] / dim_t  # (B, L, F)
        return torch.stack((pos_x[:, :, 0::2].sin(), pos_x[:, :, 1::2].cos()), dim=3).flatten(2)


class TrainablePositionalEncoding(nn.Module):
    """Learned text positions + LayerNorm + dropout. Only used with use_txt_pos (off in every released config)."""

    def __init__(self, max_position_embeddings, hidden_size, dropout=0.1):
        super().__init__()
        self.position_embeddings = nn.Embedding(max_position_embeddings, hidden_size)
        self.LayerNorm = nn.LayerNorm(hidden_size)
        self.dropout = Dropout(dropout)

    def forward(self, input_feat):
        """input_feat: (B, L, d) -> (B, L, d)."""
        position_ids = torch.arange(input_feat.shape[1], device=input_feat.device)
        return self.dropout(self.LayerNorm(input_feat + self.position_embeddings(position_ids)[None]))


def anchor_sine_embed(anchors, d_model=256):
    """Sine embedding of decoder anchors (DAB-DETR).

    anchors: (nq, B, 2) normalised (center, width). Returns (nq, B, d_model) = [emb(center) | emb(width)],
    each half interleaving sin/cos at 10000^(2*floor(i/2)/(d_model/2)).
    """
    half = d_model // 2
    dim_t = torch.arange(half, dtype=torch.float32, device=anchors.device)
    dim_t = 10000 ** (2 * (dim_t // 2) / half)
    embeds = []
    for coord in (anchors[:, :, 0], anchors[:, :, 1]):
        pos = coord[:, :, None] * (2 * math.pi) / dim_t  # (nq, B, half)
        embeds.append(torch.stack((pos[:, :, 0::2].sin(), pos[:, :, 1::2].cos()), dim=3).flatten(2))
    return torch.cat(embeds, dim=2)

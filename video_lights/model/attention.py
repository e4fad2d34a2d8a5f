"""The decoder's multi-head attention (conditional/DAB-DETR): no input projections, only an output projection.

The decoder layer projects queries, keys and values itself (content and positional parts separately), so this
module only splits heads, attends and projects the output. Query/key width (embed_dim) may differ from the value
width (vdim): the decoder's cross-attention uses 512-wide queries/keys ([content | sine] per head) and 256-wide values.
"""
import torch
from torch import nn

from video_lights.model.dropout import dropout


class MultiheadAttention(nn.Module):
    def __init__(self, embed_dim, num_heads, dropout=0.0, vdim=None):
        super().__init__()
        self.embed_dim = embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        assert embed_dim % num_heads == 0 and self.vdim % num_heads == 0
        self.out_proj = nn.Linear(self.vdim, self.vdim)
        nn.init.constant_(self.out_proj.bias, 0.0)  # as the authors' (conditional-DETR) attention

    def forward(self, query, key, value, key_padding_mask=None):
        """query (Lq, B, embed_dim), key (Lk, B, embed_dim), value (Lk, B, vdim), sequence-first;
        key_padding_mask (B, Lk) bool, True = ignore. Returns (Lq, B, vdim).

        softmax(q k^T / sqrt(embed_dim / num_heads)) with dropout on the attention weights, as the reference.
        """
        Lq, B, _ = query.shape
        Lk = key.shape[0]
        H = self.num_heads
        q = query.reshape(Lq, B, H, -1).permute(1, 2, 0, 3)  # (B, H, Lq, hd)
        k = key.reshape(Lk, B, H, -1).permute(1, 2, 0, 3)  # (B, H, Lk, hd)
        v = value.reshape(Lk, B, H, -1).permute(1, 2, 0, 3)  # (B, H, Lk, vd)
        q = q * (q.shape[-1] ** -0.5)
        attn = torch.matmul(q, k.transpose(-2, -1))  # (B, H, Lq, Lk)
        if key_padding_mask is not None:
            attn = attn.masked_fill(key_padding_mask[:, None, None, :], float("-inf"))
        attn = torch.softmax(attn - attn.max(dim=-1, keepdim=True)[0], dim=-1)
        attn = dropout(attn, self.dropout, self.training)
        out = torch.matmul(attn, v)  # (B, H, Lq, vd)
        out = out.permute(2, 0, 1, 3).reshape(Lq, B, self.vdim)
        return self.out_proj(out)

"""Multi-head attention: one kernel (attend) behind the two attention modules of the model.

MultiheadAttention (BiCMF, video encoder): nn.MultiheadAttention's parameters and math (in_proj_weight /
in_proj_bias split into q, k, v; out_proj), so state dicts load unchanged, with batch-first tensors and the fused
kernel (fused_attend). A query that is also the key (self-attention) or a key that is also the value is projected
by one matrix product.

DecoderAttention (conditional / DAB-DETR decoder, 10 queries: attend, written out): no input projections, only an
output projection. The decoder
layer projects queries, keys and values itself (content and positional parts separately), so this module only
splits heads, attends and projects the output. Query/key width (embed_dim) may differ from the value width
(vdim): the decoder's cross-attention uses 512-wide queries/keys ([content | sine] per head) and 256-wide values.
"""
import torch
import torch.nn.functional as F
from torch import nn

from video_lights.model.dropout import dropout
from video_lights.model.linear import Linear, linear


def attend(q, k, v, mask=None, dropout_p=0.0, training=False):
    """softmax(q k^T / sqrt(E)) v per head, with dropout on the attention weights in training, written out.

    q (B, H, Lq, E), k (B, H, Lk, E), v (B, H, Lk, Ev), any strides; mask: bool broadcastable to (B, H, Lq, Lk),
    True = hidden, or None. Returns (B, H, Lq, Ev). The dropout masks come from model/dropout.py.
    """
    weights = torch.matmul(q * q.shape[-1] ** -0.5, k.transpose(-2, -1))  # (B, H, Lq, Lk)
    if mask is not None:
        weights = weights.masked_fill(mask, float("-inf"))
    return torch.matmul(dropout(weights.softmax(-1), dropout_p, training), v)


def fused_attend(q, k, v, mask=None, dropout_p=0.0, training=False):
    """attend() through F.scaled_dot_product_attention's fused kernel when no dropout applies (inference); in
    training the weights are materialised, as the fused kernel's dropout draws torch's slow CPU bernoulli_ masks."""
    if training and dropout_p > 0:
        return attend(q, k, v, mask, dropout_p, training)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=None if mask is None else ~mask)


class MultiheadAttention(nn.MultiheadAttention):
    """nn.MultiheadAttention (same parameters, names and initialisation), batch-first, through attend()."""

    def forward(self, query, key, value, key_padding_mask=None, attn_mask=None):
        """query (B, Lq, d), key (B, Lk, d), value (B, Lk, d); key_padding_mask (B, Lk) bool, True = ignore;
        attn_mask (B * num_heads, Lq, Lk) bool, True = ignore, index b * num_heads + h for head h of sample b
        (nn.MultiheadAttention's layout). Returns (B, Lq, d)."""
        B, Lq, d = query.shape
        Lk, H = key.shape[1], self.num_heads
        w, b = self.in_proj_weight, self.in_proj_bias
        if key is query:
            q, k = linear(query, w[:2 * d], b[:2 * d]).chunk(2, dim=-1)
            v = linear(value, w[2 * d:], b[2 * d:])
        elif value is key:
            q = linear(query, w[:d], b[:d])
            k, v = linear(key, w[d:], b[d:]).chunk(2, dim=-1)
        else:
            q, k, v = (linear(x, w[i * d:(i + 1) * d], b[i * d:(i + 1) * d]) for i, x in enumerate((query, key,
                                                                                                   value)))
        mask = None if key_padding_mask is None else key_padding_mask[:, None, None, :]  # (B, 1, 1, Lk)
        if attn_mask is not None:
            attn_mask = attn_mask.view(B, H, Lq, Lk)
            mask = attn_mask if mask is None else mask | attn_mask
        out = fused_attend(q.view(B, Lq, H, -1).transpose(1, 2), k.view(B, Lk, H, -1).transpose(1, 2),
                     v.view(B, Lk, H, -1).transpose(1, 2), mask, self.dropout, self.training)  # (B, H, Lq, hd)
        return linear(out.transpose(1, 2).reshape(B, Lq, d), self.out_proj.weight, self.out_proj.bias)


class DecoderAttention(nn.Module):
    def __init__(self, embed_dim, num_heads, dropout=0.0, vdim=None):
        super().__init__()
        self.embed_dim = embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        assert embed_dim % num_heads == 0 and self.vdim % num_heads == 0
        self.out_proj = Linear(self.vdim, self.vdim)
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
        mask = None if key_padding_mask is None else key_padding_mask[:, None, None, :]
        out = attend(q, k, v, mask, self.dropout, self.training)  # (B, H, Lq, vd)
        return self.out_proj(out.permute(2, 0, 1, 3).reshape(Lq, B, self.vdim))

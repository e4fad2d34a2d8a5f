"""Bi-directional cross-modal fusion (paper: "BiCMF"): text->video, video->text and video->(updated text)
cross-attention, then an FFN. Only the video tokens leave a layer updated.

All tensors are sequence-first: src (1 + Lv + Lq, B, d) = [global token; video clips; text tokens].

Fidelity switch: the authors' attention mask is mis-tiled across batch and heads (see bicmf_attn_mask), which
makes a sample's outputs depend on the other samples of its batch. It is reproduced by default, so released
checkpoints give the published numbers; --fix_bicmf_mask (opt.fix_bicmf_mask, read once in build_model) gives
every sample its own mask, i.e. plain key padding. Measured effect (scripts/bench_model.py --mask-effect: QVHL val,
1550 queries in eval batches of 100 in file order, clips = duration / 2, tokens ~ words + 2, random-init weights):
outputs of 134 queries (8.6 %) change, by up to 0.196 in saliency and 0.019 in normalised span coordinates, and
17 queries (1.1 %) change their top-1 moment. Sample b is affected when one of the samples (b * H + h) mod B,
h < H, has both a shorter video and a shorter query than b, so a different batch size or order changes the numbers.
"""
import copy

import torch
from torch import nn

from video_lights.model.dropout import Dropout


def bicmf_attn_mask(pad_q, pad_k, nheads, fix_mask=False):
    """The extra 3-D attention mask the reference passes to each BiCMF cross-attention.

    pad_q (B, Lq), pad_k (B, Lk): bool, True = padding. Returns a bool (B * nheads, Lq, Lk) mask (True = masked),
    or None with fix_mask.

    The intended mask of sample b hides (padded query x padded key) pairs, which key_padding_mask already hides.
    Quirk (reproduced unless fix_mask): the reference tiles it with repeat(nheads, 1, 1), so index i holds sample
    i mod B, while torch reads index b * nheads + h as (sample b, head h). Head h of sample b thus gets the mask of
    sample (b * nheads + h) mod B, which can hide *valid* keys of b when that other sample has both padded clips
    and padded tokens. With fix_mask each sample gets its own mask, which adds nothing to key_padding_mask.
    """
    if fix_mask:
        return None
    outer = pad_q[:, :, None] & pad_k[:, None, :]  # (B, Lq, Lk)
    return outer.repeat(nheads, 1, 1)  # (B * H, Lq, Lk), mis-tiled on purpose (see docstring)


class BiCMFLayer(nn.Module):
    def __init__(self, d_model, nhead, dim_feedforward=1024, dropout=0.1, fix_mask=False):
        super().__init__()
        self.nhead = nhead
        self.fix_mask = fix_mask
        self.cross_attn_1 = nn.MultiheadAttention(d_model, nhead, dropout=dropout)  # text -> video
        self.cross_attn_2 = nn.MultiheadAttention(d_model, nhead, dropout=dropout)  # video -> text
        self.cross_attn_3 = nn.MultiheadAttention(d_model, nhead, dropout=dropout)  # updated text -> video
        self.linear1 = nn.Linear(d_model, d_model)
        self.linear2 = nn.Linear(d_model, d_model)
        self.linear3 = nn.Linear(d_model, d_model)
        self.linear4 = nn.Linear(d_model, dim_feedforward)
        self.linear5 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)  # unused, as in the reference (kept so checkpoints load strictly)
        self.norm3 = nn.LayerNorm(d_model)
        self.norm4 = nn.LayerNorm(d_model)
        self.activation = nn.PReLU()
        self.dropout = Dropout(dropout)

    def forward(self, src, key_padding_mask, pos, video_length):
        """src, pos: (1 + Lv + Lq, B, d); key_padding_mask (B, 1 + Lv + Lq) bool, True = pad; video_length = Lv.

        Returns (1 + Lv + Lq, B, d) = [global token unchanged; fused video; the *input* text unchanged].
        """
        Lv = video_length
        drop = self.dropout
        src_pos = src + pos
        vid, txt = src[1:Lv + 1], src[Lv + 1:]
        vid_pos, txt_pos = src_pos[1:Lv + 1], src_pos[Lv + 1:]
        pad_v, pad_t = key_padding_mask[:, 1:Lv + 1], key_padding_mask[:, Lv + 1:]
        mask_vt = bicmf_attn_mask(pad_v, pad_t, self.nhead, self.fix_mask)  # (B*H, Lv, Lq)
        mask_tv = bicmf_attn_mask(pad_t, pad_v, self.nhead, self.fix_mask)  # (B*H, Lq, Lv)

        def attend(attn, q, k, v, attn_mask, pad):
            return attn(q, k, v, attn_mask=attn_mask, key_padding_mask=pad, need_weights=False)[0]

        vid1 = self.norm1(vid + self.linear1(drop(attend(self.cross_attn_1, vid_pos, txt_pos, txt, mask_vt, pad_t))))
        txt1 = txt + self.linear2(drop(attend(self.cross_attn_2, txt_pos, vid_pos, vid, mask_tv, pad_v)))  # no norm
        fused = self.norm3(vid1 + self.linear3(drop(attend(self.cross_attn_3, vid1, txt1, txt1, mask_vt, pad_t))))
        ffn = self.linear5(drop(self.activation(self.linear4(fused))))
        # Quirk (reproduced): no residual from `fused`; the FFN output is added to a dropout of itself.
        vid_out = self.norm4(ffn + drop(ffn))
        # Quirk (reproduced): the layer returns the original text, not txt1.
        return torch.cat([src[:1], vid_out, txt], dim=0)


class BiCMF(nn.Module):
    """A stack of BiCMF layers (key prefix transformer.t2v_encoder.layers.i)."""

    def __init__(self, layer, num_layers):
        super().__init__()
        self.layers = nn.ModuleList([copy.deepcopy(layer) for _ in range(num_layers)])

    def forward(self, src, key_padding_mask, pos, video_length):
        for layer in self.layers:
            src = layer(src, key_padding_mask, pos, video_length)
        return src

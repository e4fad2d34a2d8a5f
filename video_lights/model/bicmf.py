"""Bi-directional cross-modal fusion (paper: "BiCMF"): text->video, video->text and video->(updated text)
cross-attention, then an FFN. Only the video tokens leave a layer updated.

All tensors are batch-first: video clips (B, Lv, d), text tokens (B, Lq, d). The global token does not take part.

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

from torch import nn

from video_lights.model.attention import MultiheadAttention
from video_lights.model.dropout import Dropout
from video_lights.model.linear import Linear
from video_lights.model.prelu import PReLU


def bicmf_attn_mask(pad_q, pad_k, nheads, fix_mask=False, groups=1):
    """The extra 3-D attention mask the reference passes to each BiCMF cross-attention.

    pad_q (B, Lq), pad_k (B, Lk): bool, True = padding. Returns a bool (B * nheads, Lq, Lk) mask (True = masked),
    or None with fix_mask. groups: the batch stacks this many batches of B / groups samples that the reference
    runs through separate calls (the positive and the negative pairs); each is tiled on its own, as there.

    The intended mask of sample b hides (padded query x padded key) pairs, which key_padding_mask already hides.
    Quirk (reproduced unless fix_mask): the reference tiles it with repeat(nheads, 1, 1), so index i holds sample
    i mod B, while torch reads index b * nheads + h as (sample b, head h). Head h of sample b thus gets the mask of
    sample (b * nheads + h) mod B, which can hide *valid* keys of b when that other sample has both padded clips
    and padded tokens. With fix_mask each sample gets its own mask, which adds nothing to key_padding_mask.
    """
    if fix_mask:
        return None
    outer = pad_q[:, :, None] & pad_k[:, None, :]  # (B, Lq, Lk)
    B, Lq, Lk = outer.shape
    tiled = outer.view(groups, B // groups, Lq, Lk).repeat(1, nheads, 1, 1)  # mis-tiled on purpose (see docstring)
    return tiled.view(B * nheads, Lq, Lk)


class BiCMFLayer(nn.Module):
    def __init__(self, d_model, nhead, dim_feedforward=1024, dropout=0.1, fix_mask=False):
        super().__init__()
        self.nhead = nhead
        self.fix_mask = fix_mask
        self.cross_attn_1 = MultiheadAttention(d_model, nhead, dropout=dropout)  # text -> video
        self.cross_attn_2 = MultiheadAttention(d_model, nhead, dropout=dropout)  # video -> text
        self.cross_attn_3 = MultiheadAttention(d_model, nhead, dropout=dropout)  # updated text -> video
        self.linear1 = Linear(d_model, d_model)
        self.linear2 = Linear(d_model, d_model)
        self.linear3 = Linear(d_model, d_model)
        self.linear4 = Linear(d_model, dim_feedforward)
        self.linear5 = Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)  # unused, as in the reference (kept so checkpoints load strictly)
        self.norm3 = nn.LayerNorm(d_model)
        self.norm4 = nn.LayerNorm(d_model)
        self.activation = PReLU()
        self.dropout = Dropout(dropout)

    def forward(self, vid, txt, vid_pos, txt_pos, pad_v, pad_t, groups=1):
        """vid, vid_pos (B, Lv, d); txt, txt_pos (B, Lq, d); pad_v (B, Lv), pad_t (B, Lq) bool, True = padding;
        groups: see bicmf_attn_mask. Returns the fused video (B, Lv, d); the text leaves unchanged (quirk below)."""
        drop = self.dropout
        vid_p, txt_p = vid + vid_pos, txt + txt_pos
        mask_vt = bicmf_attn_mask(pad_v, pad_t, self.nhead, self.fix_mask, groups)  # (B*H, Lv, Lq)
        mask_tv = bicmf_attn_mask(pad_t, pad_v, self.nhead, self.fix_mask, groups)  # (B*H, Lq, Lv)
        vid1 = self.norm1(vid + self.linear1(drop(self.cross_attn_1(vid_p, txt_p, txt, pad_t, mask_vt))))
        txt1 = txt + self.linear2(drop(self.cross_attn_2(txt_p, vid_p, vid, pad_v, mask_tv)))  # no norm
        fused = self.norm3(vid1 + self.linear3(drop(self.cross_attn_3(vid1, txt1, txt1, pad_t, mask_vt))))
        ffn = self.linear5(drop(self.activation(self.linear4(fused))))
        # Quirk (reproduced): no residual from `fused`; the FFN output is added to a dropout of itself.
        # Quirk (reproduced): the layer returns the original text, not txt1 (the next layer sees the input text).
        return self.norm4(ffn + drop(ffn))


class BiCMF(nn.Module):
    """A stack of BiCMF layers (key prefix transformer.t2v_encoder.layers.i)."""

    def __init__(self, layer, num_layers):
        super().__init__()
        self.layers = nn.ModuleList([copy.deepcopy(layer) for _ in range(num_layers)])

    def forward(self, vid, txt, vid_pos, txt_pos, pad_v, pad_t, groups=1):
        """Arguments as BiCMFLayer.forward; returns the fused video (B, Lv, d)."""
        for layer in self.layers:
            vid = layer(vid, txt, vid_pos, txt_pos, pad_v, pad_t, groups)
        return vid

"""BiCMF attention-mask tiling (the authors' video_lights/transformer.py `BiCMFLayer`; docs/fidelity.md, 'Model')
against a direct implementation of the rule:
head h of sample b receives the (padded query x padded key) mask of sample (b * H + h) mod B."""
import math

import pytest
import torch
import torch.nn.functional as F

from video_lights.model.bicmf import BiCMFLayer, bicmf_attn_mask

D, H = 256, 8


def _padding(lengths, max_len):
    return torch.arange(max_len)[None, :] >= torch.tensor(lengths)[:, None]  # (B, L) True = pad


def _direct_attention(attn, q, k, v, pad_q, pad_k, fix):
    """Per-(sample, head) attention written out, with the mask chosen by the reference's rule. Sequence-first."""
    Lq, B, _ = q.shape
    hd = D // H
    w, b = attn.in_proj_weight, attn.in_proj_bias
    Q, K, V = F.linear(q, w[:D], b[:D]), F.linear(k, w[D:2 * D], b[D:2 * D]), F.linear(v, w[2 * D:], b[2 * D:])
    out = torch.zeros(Lq, B, D)
    for s in range(B):
        for h in range(H):
            src = s if fix else (s * H + h) % B
            hidden = pad_k[s][None, :] | (pad_q[src][:, None] & pad_k[src][None, :])  # (Lq, Lk)
            sl = slice(h * hd, (h + 1) * hd)
            logits = Q[:, s, sl] @ K[:, s, sl].T / math.sqrt(hd)
            out[:, s, sl] = logits.masked_fill(hidden, float("-inf")).softmax(-1) @ V[:, s, sl]
    return attn.out_proj(out)


def _direct_bicmf(layer, src, pad, pos, Lv, fix):
    """The authors' `BiCMFLayer` forward (post-norm path) in eval mode, term by term."""
    vid, txt = src[1:Lv + 1], src[Lv + 1:]
    vid_p, txt_p = (src + pos)[1:Lv + 1], (src + pos)[Lv + 1:]
    pad_v, pad_t = pad[:, 1:Lv + 1], pad[:, Lv + 1:]
    v1 = layer.norm1(vid + layer.linear1(_direct_attention(layer.cross_attn_1, vid_p, txt_p, txt, pad_v, pad_t, fix)))
    t1 = txt + layer.linear2(_direct_attention(layer.cross_attn_2, txt_p, vid_p, vid, pad_t, pad_v, fix))
    c = layer.norm3(v1 + layer.linear3(_direct_attention(layer.cross_attn_3, v1, t1, t1, pad_v, pad_t, fix)))
    f = layer.linear5(layer.activation(layer.linear4(c)))
    return torch.cat([src[:1], layer.norm4(2 * f), txt])


def _ours(layer, src, pad, pos, Lv):
    """Our batch-first BiCMFLayer on the sequence-first [global; video; text] inputs, laid out as the reference's
    output: [global unchanged; fused video; input text]."""
    bf = lambda x: x.transpose(0, 1)  # noqa: E731
    vid = layer(bf(src[1:Lv + 1]), bf(src[Lv + 1:]), bf(pos[1:Lv + 1]), bf(pos[Lv + 1:]), pad[:, 1:Lv + 1],
                pad[:, Lv + 1:])
    return torch.cat([src[:1], bf(vid), src[Lv + 1:]])


BATCHES = {  # (clip counts, token counts): mixed video-only, text-only, both and no padding
    4: ([75, 40, 75, 30], [12, 20, 20, 7]),
    8: ([75, 33, 75, 52, 20, 75, 61, 75], [20, 9, 14, 20, 5, 20, 17, 11]),
}


def _inputs(B, seed=0):
    g = torch.Generator().manual_seed(seed)
    vid_lens, txt_lens = BATCHES[B]
    Lv, Lq = max(vid_lens), max(txt_lens)
    src = torch.randn(1 + Lv + Lq, B, D, generator=g)
    pos = torch.cat([torch.randn(1 + Lv, B, D, generator=g), torch.zeros(Lq, B, D)])
    pad = torch.cat([torch.zeros(B, 1, dtype=torch.bool), _padding(vid_lens, Lv), _padding(txt_lens, Lq)], dim=1)
    return src, pad, pos, Lv


def _layer(fix):
    torch.manual_seed(1)
    layer = BiCMFLayer(D, H, dim_feedforward=1024, dropout=0.1, fix_mask=fix)
    for p in layer.parameters():
        if p.dim() > 1:
            torch.nn.init.xavier_uniform_(p)
    return layer.eval()


@pytest.mark.parametrize("B", [4, 8])
@pytest.mark.parametrize("fix", [False, True])
def test_bicmf_layer_matches_direct_rule(B, fix):
    src, pad, pos, Lv = _inputs(B)
    layer = _layer(fix)
    with torch.no_grad():
        ours = _ours(layer, src, pad, pos, Lv)
        direct = _direct_bicmf(layer, src, pad, pos, Lv, fix)
    torch.testing.assert_close(ours, direct, rtol=0, atol=1e-4)


@pytest.mark.parametrize("B", [4, 8])
def test_mask_tiling_changes_valid_outputs_only_with_both_paddings(B):
    src, pad, pos, Lv = _inputs(B)
    vid_lens, txt_lens = BATCHES[B]
    with torch.no_grad():
        quirk = _ours(_layer(False), src, pad, pos, Lv)
        fixed = _ours(_layer(True), src, pad, pos, Lv)
    # difference on each sample's valid clips
    diff = torch.stack([(quirk[1:1 + n, b] - fixed[1:1 + n, b]).abs().max() for b, n in enumerate(vid_lens)])
    both = [b for b in range(B) if vid_lens[b] < Lv and txt_lens[b] < max(txt_lens)]
    # samples whose heads receive a mask that hides at least one of their valid (query, key) pairs
    hit = set()
    for b in range(B):
        for h in range(H):
            s = (b * H + h) % B
            if s in both and (vid_lens[s] < vid_lens[b]) and (txt_lens[s] < txt_lens[b]):
                hit.add(b)
    assert hit, "the batch must exercise the quirk"
    for b in range(B):
        if b in hit:
            assert diff[b] > 1e-3, (b, diff)
        else:
            assert diff[b] < 1e-5, (b, diff)


def test_mask_construction():
    pad_q = torch.tensor([[False, True], [False, False], [False, True]])
    pad_k = torch.tensor([[False, True, True], [False, False, True], [False, False, False]])
    m = bicmf_attn_mask(pad_q, pad_k, nheads=2)
    assert m.shape == (6, 2, 3)
    for i in range(6):  # index i holds sample i mod B (torch reads it as sample i // H, head i % H)
        s = i % 3
        assert torch.equal(m[i], pad_q[s][:, None] & pad_k[s][None, :])
    assert bicmf_attn_mask(pad_q, pad_k, nheads=2, fix_mask=True) is None


def test_stacked_batches_tile_their_masks_as_separate_calls():
    """groups=2: a batch of the positive and the negative pairs gives each half the mask of its own call."""
    pad_q = torch.tensor([[False, True], [False, False], [False, True]])
    pad_k = torch.tensor([[False, True, True], [False, False, True], [False, False, False]])
    pad_q2, pad_k2 = pad_q.roll(1, 0), pad_k.flip(0)
    stacked = bicmf_attn_mask(torch.cat([pad_q, pad_q2]), torch.cat([pad_k, pad_k2]), nheads=2, groups=2)
    assert torch.equal(stacked, torch.cat([bicmf_attn_mask(pad_q, pad_k, 2), bicmf_attn_mask(pad_q2, pad_k2, 2)]))

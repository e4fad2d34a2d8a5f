"""Uni-directional MR -> HD feedback (paper: "uni-directional joint-task feedback").

The top-1 predicted moment selects a run of projected clips; a GRU summarises them into one vector g, which
re-weights the encoder's clip memory for an auxiliary saliency head. It only feeds the loss: predictions and
inference outputs never depend on it.
"""
import math

import torch
from torch import nn

from video_lights.utils.spans import span_cxw_to_xx


def top1_span_slice(pred_logits, pred_spans, video_length, clip_length):
    """Start/stop clip indices of each sample's most confident predicted span, as the reference slices them.

    pred_logits (B, nq, 2), pred_spans (B, nq, 2) normalised cxw. Returns start, stop: (B,) int64 in
    [0, video_length], such that the reference's v0[b, st:ed + 1] equals v0[b, start:stop] (empty when
    stop <= start).
    Quirks (reproduced): the span is de-normalised with the *padded* batch length video_length, and indices follow
    Python slicing, so a negative start counts from the end of the padded sequence.
    """
    with torch.no_grad():
        top = pred_logits.softmax(-1)[..., 0].argmax(dim=1)  # (B,) the first query on ties
        span = pred_spans[torch.arange(len(top), device=top.device), top]  # (B, 2) cxw
        xx = span_cxw_to_xx(span) * (video_length * clip_length)  # seconds
        idx = torch.floor(xx / clip_length).long()  # (B, 2) st, ed
        start, stop = idx[:, 0], idx[:, 1] + 1
        # Python slice normalisation of negative / out-of-range bounds
        start = torch.where(start < 0, start + video_length, start).clamp(0, video_length)
        stop = torch.where(stop < 0, stop + video_length, stop).clamp(0, video_length)
    return start, stop


def select_clips(clips, start, stop):
    """clips[b, start[b]:stop[b]] moved to the front and zero-padded to Lv: (B, Lv, d), (B,), (B,) -> (B, Lv, d)."""
    B, Lv, d = clips.shape
    steps = torch.arange(Lv, device=clips.device)
    index = (start[:, None] + steps).clamp(max=Lv - 1)  # (B, Lv)
    valid = steps[None] < (stop - start)[:, None]  # (B, Lv)
    return clips.gather(1, index[..., None].expand(B, Lv, d)) * valid[..., None].to(clips.dtype)


class GRUExtractor(nn.Module):
    """Summarise the clips of the top-1 span with a GRU (key prefix gru_extractor.gru)."""

    def __init__(self, hidden_dim):
        super().__init__()
        self.gru = nn.GRU(hidden_dim, hidden_dim, num_layers=1, batch_first=True)

    def forward(self, clips, start, stop):
        """clips (B, Lv, d); start, stop (B,) from top1_span_slice. Returns the final GRU state (B, d).

        The selected clips are moved to the front and zero-padded to Lv; the GRU runs over all Lv steps,
        zero padding included (as the reference).
        """
        seq = select_clips(clips, start, stop)
        _, h_n = self.gru(seq)
        return h_n[-1]


def mr_to_hd_saliency(vid_mem, clips, g, saliency_proj_mr):
    """MR->HD saliency (B, Lv): sum_d saliency_proj_mr(vid_mem * (1 + <g, clip>))[b, c, d] / sqrt(d).

    vid_mem (B, Lv, d) encoder clip memory; clips (B, Lv, d) projected (pre-refinement) clips; g (B, d).
    """
    weight = torch.einsum("bd,bld->bl", g, clips)  # (B, Lv)
    feat = vid_mem * (1 + weight.unsqueeze(-1))
    return saliency_proj_mr(feat).sum(-1) / math.sqrt(vid_mem.shape[-1])

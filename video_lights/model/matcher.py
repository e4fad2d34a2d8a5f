"""Hungarian matching of predicted spans to ground-truth spans (DETR / Moment-DETR)."""
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from video_lights.utils.spans import generalized_temporal_iou, span_cxw_to_xx

FOREGROUND = 0  # class index of "a moment"; 1 = background


class HungarianMatcher(nn.Module):
    """cost = cost_span * L1(cxw) + cost_giou * (-gIoU(xx)) + cost_class * (-p_foreground); one solve per sample."""

    def __init__(self, cost_class=4, cost_span=10, cost_giou=1):
        super().__init__()
        self.cost_class = cost_class
        self.cost_span = cost_span
        self.cost_giou = cost_giou
        assert cost_class != 0 or cost_span != 0 or cost_giou != 0, "all costs cannot be 0"

    @torch.no_grad()
    def forward(self, outputs, targets):
        """outputs: pred_logits (B, nq, 2), pred_spans (B, nq, 2) normalised cxw.
        targets: {"span_labels": [{"spans": (n_i, 2) normalised cxw}] * B}.

        Returns a list of B (pred_query_idx int64 (k,), target_span_idx int64 (k,)) with k = min(nq, n_i).
        """
        B, nq = outputs["pred_spans"].shape[:2]
        tgt_spans = torch.cat([t["spans"] for t in targets["span_labels"]]).float()  # (N, 2) over the batch
        out_prob = outputs["pred_logits"].flatten(0, 1).float().softmax(-1)  # (B * nq, 2)
        out_spans = outputs["pred_spans"].flatten(0, 1).float()  # (B * nq, 2)
        cost_class = -out_prob[:, FOREGROUND].unsqueeze(1)  # (B * nq, 1), broadcast over targets
        cost_span = torch.cdist(out_spans, tgt_spans, p=1)  # (B * nq, N)
        cost_giou = -generalized_temporal_iou(span_cxw_to_xx(out_spans), span_cxw_to_xx(tgt_spans))
        C = self.cost_span * cost_span + self.cost_giou * cost_giou + self.cost_class * cost_class
        C = C.view(B, nq, -1).cpu()
        sizes = [len(t["spans"]) for t in targets["span_labels"]]
        indices = [linear_sum_assignment(c[i]) for i, c in enumerate(C.split(sizes, -1))]
        return [(torch.as_tensor(i, dtype=torch.int64), torch.as_tensor(j, dtype=torch.int64)) for i, j in indices]


def build_matcher(opt):
    return HungarianMatcher(cost_class=opt.set_cost_class, cost_span=opt.set_cost_span, cost_giou=opt.set_cost_giou)

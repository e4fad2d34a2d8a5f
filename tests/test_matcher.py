import torch

from video_lights.model.matcher import HungarianMatcher


def test_obvious_assignment_and_sizes():
    logits = torch.zeros(2, 4, 2)
    spans = torch.tensor([[[0.2, 0.1], [0.8, 0.1], [0.5, 0.5], [0.5, 0.05]],
                          [[0.1, 0.1], [0.3, 0.2], [0.9, 0.1], [0.6, 0.3]]])
    targets = {"span_labels": [{"spans": torch.tensor([[0.79, 0.1], [0.21, 0.1]])},
                               {"spans": torch.tensor([[0.6, 0.3]])}]}
    matcher = HungarianMatcher(cost_class=4, cost_span=10, cost_giou=1)
    idx = matcher({"pred_logits": logits, "pred_spans": spans}, targets)
    assert [(i.tolist(), j.tolist()) for i, j in idx] == [([0, 1], [1, 0]), ([3], [0])]
    assert all(i.dtype == torch.int64 and j.dtype == torch.int64 for i, j in idx)


def test_class_cost_breaks_ties():
    spans = torch.tensor([[[0.5, 0.2], [0.5, 0.2]]])
    logits = torch.tensor([[[0.0, 1.0], [1.0, 0.0]]])  # query 1 is more confident foreground (class 0)
    idx = HungarianMatcher()({"pred_logits": logits, "pred_spans": spans}, {"span_labels": [{"spans": spans[0, :1]}]})
    assert idx[0][0].tolist() == [1]

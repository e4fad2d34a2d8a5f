import torch

from video_lights.utils.spans import generalized_temporal_iou, span_cxw_to_xx, span_xx_to_cxw, temporal_iou


def test_roundtrip():
    xx = torch.tensor([[0.1, 0.5], [0.0, 1.0], [0.3, 0.3]])
    assert torch.allclose(span_cxw_to_xx(span_xx_to_cxw(xx)), xx)
    assert torch.allclose(span_xx_to_cxw(xx)[0], torch.tensor([0.3, 0.4]))


def test_iou_and_giou():
    a = torch.tensor([[0.0, 2.0], [0.0, 1.0]])
    b = torch.tensor([[1.0, 3.0], [4.0, 5.0]])
    iou, _ = temporal_iou(a, b)
    assert iou.shape == (2, 2)
    assert torch.allclose(iou, torch.tensor([[1 / 3, 0.0], [0.0, 0.0]]))
    giou = generalized_temporal_iou(a, b)
    # [0,2] vs [4,5]: iou 0, enclosing 5, union 3 -> -2/5
    assert torch.isclose(giou[0, 1], torch.tensor(-0.4))
    assert torch.allclose(generalized_temporal_iou(a, a).diagonal(), torch.ones(2))


def test_inverse_sigmoid():
    from video_lights.utils.spans import inverse_sigmoid

    x = torch.tensor([0.2, 0.5, 0.9])
    assert torch.allclose(torch.sigmoid(inverse_sigmoid(x)), x)
    # clamped at 1e-3 on both sides (DAB-DETR)
    assert torch.allclose(inverse_sigmoid(torch.tensor([0.0, 1.0, -1.0])),
                          torch.log(torch.tensor([1e-3, 1 / 1e-3, 1e-3])))

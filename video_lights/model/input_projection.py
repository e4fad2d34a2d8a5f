"""Convolutional input projection (paper: "Convolutional Projection").

Each block is LayerNorm -> Dropout -> Conv1d(kernel 1) [-> ReLU]. A kernel-size-1 convolution is a per-clip
linear map (no temporal mixing), so it is computed with a linear product on (B, L, C) tensors; the weight keeps the
Conv1d layout (out, in, 1) so the authors' state dicts load unchanged.
"""
import torch.nn.functional as F
from torch import nn

from video_lights.model.dropout import Dropout
from video_lights.model.linear import linear


class PointwiseConv(nn.Module):
    """Conv1d with kernel size 1 applied over time: (B, L, in_dim) -> (B, L, out_dim)."""

    def __init__(self, in_dim, out_dim):
        super().__init__()
        self.conv1d = nn.Conv1d(in_dim, out_dim, kernel_size=1)  # weight (out, in, 1), the reference layout

    def forward(self, x):
        return linear(x, self.conv1d.weight[:, :, 0], self.conv1d.bias)


class ConvLinearLayer(nn.Module):
    """LayerNorm(in) -> Dropout(p) -> PointwiseConv(in -> out) -> optional ReLU. (B, L, in) -> (B, L, out)."""

    def __init__(self, in_dim, out_dim, dropout=0.1, relu=True):
        super().__init__()
        self.relu = relu
        self.LayerNorm = nn.LayerNorm(in_dim)
        self.net = nn.Sequential(Dropout(dropout), PointwiseConv(in_dim, out_dim))

    def forward(self, x):
        x = self.net(self.LayerNorm(x))
        return F.relu(x) if self.relu else x


def conv_projection(in_dim, hidden_dim, n_layers, dropout):
    """n_layers blocks in_dim -> hidden_dim -> ... -> hidden_dim; ReLU after every block but the last."""
    assert 1 <= n_layers <= 3, "the reference supports 1 to 3 projection blocks"
    return nn.Sequential(*[
        ConvLinearLayer(in_dim if i == 0 else hidden_dim, hidden_dim, dropout=dropout, relu=i < n_layers - 1)
        for i in range(n_layers)
    ])

"""Feature refinement (paper: "Feature Refinement"): fuse each projected clip with the sentence.

features = [clip, clip-sentence cosine x learned vector, pooled sentence, word-clip correlation] -> 1x1 conv -> ReLU.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

from video_lights.model.dropout import Dropout
from video_lights.model.input_projection import PointwiseConv
from video_lights.model.linear import linear

# Quirk (reproduced): the reference adds log(mask + 1e-45); in float32 1e-45 is the denormal 2**-149, so padded
# clips get log(2**-149) = -103.2789 instead of -inf. Written as a constant so that flush-to-zero or a float16
# mask under autocast cannot turn it into -inf.
LOG_PAD = math.log(2.0 ** -149)


class WeightedPool(nn.Module):
    """Attention pooling of words into one sentence vector: (B, Lq, d), (B, Lq) -> (B, d)."""

    def __init__(self, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(dim, 1))
        nn.init.xavier_uniform_(self.weight)

    def forward(self, x, mask):
        alpha = torch.matmul(x, self.weight).float()  # (B, Lq, 1); float32 so -1e30 stays finite under autocast
        alpha = alpha + (1.0 - mask.float().unsqueeze(2)) * -1e30
        alpha = F.softmax(alpha, dim=1)
        return (alpha * x).sum(1)  # (B, d)


class FeatureRefinement(nn.Module):
    def __init__(self, hidden_dim, dropout=0.1):
        super().__init__()
        self.sim_w = nn.Parameter(torch.empty(hidden_dim, 1))
        self.cor_v_w = nn.Parameter(torch.empty(1, hidden_dim))
        self.cor_q_w = nn.Parameter(torch.empty(1, 1))
        for p in (self.sim_w, self.cor_v_w, self.cor_q_w):
            nn.init.xavier_uniform_(p)
        self.word_to_sentence_pool = WeightedPool(hidden_dim)
        self.mixer = PointwiseConv(4 * hidden_dim, hidden_dim)
        self.dropout = Dropout(dropout)  # p = 0.1 hard-coded in the reference, not the --dropout option

    def forward(self, vid, txt, vid_mask, txt_mask):
        """vid: (B, Lv, d) projected clips; txt: (B, Lq, d) projected words; masks float (B, Lv), (B, Lq), 1 = valid.

        Returns the refined clips (B, Lv, d).
        """
        B, Lv, d = vid.shape
        # Quirk (reproduced): the word-clip correlation softmax runs over the word axis and every word shares the
        # weight row cor_q_w * cor_v_w, so the term is that constant row for every clip, whatever the input
        # (the reference's S^T @ cor_w differs from it by ~1e-7). Its gradient reaches only cor_q_w and cor_v_w.
        corr_row = self.cor_q_w[0, 0] * self.cor_v_w[0]  # (d,)
        sentence = self.word_to_sentence_pool(txt, txt_mask)  # (B, d)
        sim = F.cosine_similarity(vid.float(), sentence.float()[:, None], dim=-1, eps=1e-8)  # (B, Lv)
        sim = sim + (1.0 - vid_mask.float()) * LOG_PAD
        if not self.training:
            return F.relu(self._mix_without_dropout(vid, sim, sentence, corr_row))
        sim_features = sim.unsqueeze(-1) * self.sim_w[:, 0]  # (B, Lv, d)
        pooled = sentence.unsqueeze(1).expand(B, Lv, d)
        features = torch.cat([self.dropout(vid), self.dropout(sim_features), self.dropout(pooled),
                              self.dropout(corr_row.expand(B, Lv, d))], dim=-1)  # (B, Lv, 4d)
        return self.dropout(F.relu(self.mixer(features)))

    def _mix_without_dropout(self, vid, sim, sentence, corr_row):
        """mixer([vid, sim x sim_w, sentence, corr]) without building the (B, Lv, 4d) input: of its four d-wide
        blocks only the clips' needs a (B, Lv) x d x d product; sim x sim_w is rank one, the sentence is one row per
        sample and corr one row for all. A quarter of the mixer's multiplications (equal up to float rounding).
        vid (B, Lv, d), sim (B, Lv), sentence (B, d), corr_row (d,) -> (B, Lv, d)."""
        d = vid.shape[-1]
        w_vid, w_sim, w_sentence, w_corr = self.mixer.conv1d.weight[:, :, 0].split(d, dim=1)  # (d, d) each
        bias = self.mixer.conv1d.bias + w_corr @ corr_row  # (d,)
        out = linear(vid, w_vid, bias)  # (B, Lv, d)
        out = out + sim.unsqueeze(-1).to(out.dtype) * (w_sim @ self.sim_w[:, 0]).to(out.dtype)
        return out + linear(sentence, w_sentence).unsqueeze(1).to(out.dtype)

"""Loss terms against literal (looped) versions of the authors' video_lights/model.py `SetCriterion` (and
docs/fidelity.md, 'Losses'), on random batches."""
import argparse

import pytest
import torch
import torch.nn.functional as F

from video_lights.model.criterion import SetCriterion, build_weight_dict
from video_lights.model.matcher import HungarianMatcher


def _criterion(**kw):
    args = dict(matcher=HungarianMatcher(4, 10, 1), weight_dict={}, eos_coef=0.1, temperature=0.07,
                saliency_margin=0.2, use_matcher=True, contrastive_align_loss=True, mr_to_hd_loss=True,
                hard_pos_neg_loss=True, hard_pos_neg_loss_coef=10.0, cos_sim_loss_coef=1.0, mr_to_hd_loss_coef=1.0)
    args.update(kw)
    return SetCriterion(**args)


def _rank_contrastive_loop(s, sn, labels, m):
    """QD-DETR's loop, literally."""
    scores = torch.cat([s, sn], 1)
    lab = torch.cat([labels, torch.zeros_like(labels)], 1)
    mask = m.repeat(1, 2)
    scores = mask * scores + (1.0 - mask) * -1e3
    total = 0.0
    for r in range(1, 12):
        drop = ~(lab > 100)
        pos = lab >= r
        if pos.sum() == 0:
            continue
        row_has = pos.sum(1) > 0
        cur = scores * drop / 0.5 + ~drop * -1e3
        logits = cur - cur.max(1, keepdim=True)[0]
        log_prob = logits - torch.log(torch.exp(logits).sum(1, keepdim=True) + 1e-6)
        mean_pos = (pos * log_prob * mask).sum(1) / (pos.sum(1) + 1e-6)
        total = total + (-mean_pos * row_has).mean()
    return total / 12


def _saliency_batch(B=5, L=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    lens = torch.randint(4, L + 1, (B,), generator=g)
    lens[0] = L
    m = (torch.arange(L)[None] < lens[:, None]).float()
    labels = torch.zeros(B, L)
    for b in range(B):
        n = int(torch.randint(1, 4, (1,), generator=g))
        labels[b, :n] = torch.randint(0, 13, (n,), generator=g).float()
    labels[0, 0] = 12.0
    labels[1] = 0  # a row without positives
    targets = {"saliency_all_labels": labels, "saliency_pos_index": (labels > 0).long(),
               "saliency_pos_labels": torch.zeros(B, 2, dtype=torch.long),
               "saliency_neg_labels": torch.randint(0, 4, (B, 2), generator=g)}
    outputs = {"saliency_scores": torch.randn(B, L, generator=g), "saliency_scores_neg": torch.randn(B, L, generator=g),
               "saliency_scores_mr": torch.randn(B, L, generator=g), "video_mask": m}
    return outputs, targets


def test_rank_contrastive_matches_loop():
    for seed in range(3):
        out, tgt = _saliency_batch(seed=seed)
        ours = SetCriterion._rank_contrastive(out["saliency_scores"], out["saliency_scores_neg"],
                                              tgt["saliency_all_labels"], out["video_mask"])
        loop = _rank_contrastive_loop(out["saliency_scores"], out["saliency_scores_neg"], tgt["saliency_all_labels"],
                                      out["video_mask"])
        torch.testing.assert_close(ours, loop, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("epoch_i", [0, 7])
def test_saliency_terms_match_spec(epoch_i):
    out, tgt = _saliency_batch()
    terms = _criterion().saliency_terms(out, tgt, epoch_i)
    s, sn, m, gt = out["saliency_scores"], out["saliency_scores_neg"], out["video_mask"], tgt["saliency_all_labels"]
    B = len(s)
    neg_pair = sum((-torch.log(1 - torch.sigmoid(sn[b])) * m[b]).sum() for b in range(B)) / B
    pos = torch.stack([s[b, tgt["saliency_pos_labels"][b]] for b in range(B)])
    neg = torch.stack([s[b, tgt["saliency_neg_labels"][b]] for b in range(B)])
    margin = (0.2 + neg - pos).clamp(min=0).mean() * 2
    scale = gt.max() - gt.min()

    def cos_term(x):
        xn = (x - x.min()) / scale
        return sum(1 - F.cosine_similarity(gt[b] / gt[b].norm().clamp(min=1e-12), xn[b] / xn[b].norm(), dim=0)
                   for b in range(B))

    g_n, s_n = F.normalize(gt, dim=1), F.normalize((s - s.min()) / scale, dim=1)
    hard = (epoch_i + 1) * 10.0 * ((g_n - s_n) ** 2).mean()  # hard_pos + hard_neg == (e+1) coef MSE(g, s)
    expected = {"neg_pair": neg_pair, "margin_pairwise": margin, "cos_sim": cos_term(s),
                "mr_to_hd": cos_term(out["saliency_scores_mr"]), "hard_pos_neg": hard}
    for k, v in expected.items():
        torch.testing.assert_close(terms[k], v, rtol=1e-5, atol=1e-6, msg=k)
    loss = _criterion().loss_saliency(out, tgt, None, epoch_i)["loss_saliency"]
    torch.testing.assert_close(loss, sum(terms.values()))


def _det_outputs(B=3, nq=10, Lq=6, h=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"pred_logits": torch.randn(B, nq, 2, generator=g),
            "pred_spans": torch.rand(B, nq, 2, generator=g) * 0.5 + 0.1,
            "proj_queries": F.normalize(torch.randn(B, nq, h, generator=g), dim=-1),
            "proj_txt_mem": F.normalize(torch.randn(B, Lq, h, generator=g), dim=-1)}


def test_label_loss_is_plain_mean_and_contrastive_aux_shape():
    out = _det_outputs()
    targets = {"span_labels": [{"spans": torch.tensor([[0.3, 0.2]])}, {"spans": torch.tensor([[0.5, 0.1], [0.2, 0.1]])},
                               {"spans": torch.tensor([[0.7, 0.3]])}]}
    crit = _criterion()
    indices = crit.matcher(out, targets)
    loss = crit.loss_labels(out, targets, indices, 0)
    tgt = torch.ones(3, 10, dtype=torch.long)
    for b, (i, _) in enumerate(indices):
        tgt[b, i] = 0
    nll = -F.log_softmax(out["pred_logits"], -1).gather(-1, tgt[..., None])[..., 0]
    per_elem = nll * torch.where(tgt == 0, 1.0, 0.1)
    torch.testing.assert_close(loss["loss_label"], per_elem.mean())
    aux = crit.loss_contrastive_align(out, targets, indices, 0)["loss_contrastive_align"]
    assert aux.shape == (1,)  # aux layers: + zeros(1), as the reference
    logits = torch.einsum("bqd,btd->bqt", out["proj_queries"], out["proj_txt_mem"]).sum(-1) / 0.07
    nce = torch.stack([-logits[b, i].mean() + logits[b].logsumexp(0) for b, (i, _) in enumerate(indices)]).mean()
    torch.testing.assert_close(aux[0], nce)


def test_tvsum_computes_only_saliency():
    out, tgt = _saliency_batch()
    out.update(_det_outputs(B=5))
    tgt["span_labels"] = [{"spans": torch.tensor([[0.0, 0.0]])}] * 5
    out["aux_outputs"] = [_det_outputs(B=5, seed=1)]
    assert set(_criterion(use_matcher=False)(out, tgt, 0)) == {"loss_saliency"}


def test_weight_dict():
    opt = argparse.Namespace(span_loss_coef=10, giou_loss_coef=1, label_loss_coef=4, lw_saliency=1.0,
                             contrastive_align_loss=True, contrastive_align_loss_coef=0.2, aux_loss=True, dec_layers=3)
    w = build_weight_dict(opt)
    assert w == {"loss_span": 10, "loss_giou": 1, "loss_label": 4, "loss_saliency": 1.0, "loss_contrastive_align": 0.2,
                 "loss_span_0": 10, "loss_giou_0": 1, "loss_label_0": 4, "loss_contrastive_align_0": 0.2,
                 "loss_span_1": 10, "loss_giou_1": 1, "loss_label_1": 4, "loss_contrastive_align_1": 0.2}

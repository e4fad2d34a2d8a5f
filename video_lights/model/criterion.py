"""The VideoLights losses (SetCriterion): span L1 + gIoU, label, contrastive alignment, and the saliency losses.

One method per loss term; auxiliary decoder layers reuse them. Every loss is computed in float32 (outputs are
cast, autocast is disabled inside), so losses stay float32 when the forward pass ran under autocast. Targets (as
the data loader's prepare_batch_inputs gives them):
    span_labels: list of B {"spans": (n_i, 2) normalised cxw}
    saliency_pos_labels, saliency_neg_labels: (B, P) int64 clip indices
    saliency_pos_index: (B, Lv) int64, 1 where saliency_all_labels > 0
    saliency_all_labels: (B, Lv) float32 saliency (QVHL: 0..12), zero padded
"""
import torch
import torch.nn.functional as F
from torch import nn

from video_lights.model.matcher import FOREGROUND, build_matcher
from video_lights.utils.spans import generalized_temporal_iou, span_cxw_to_xx

BACKGROUND = 1
RANK_THRESHOLDS = 11  # rank-contrastive levels r = 1 .. 11
RANK_TAU = 0.5


def build_weight_dict(opt):
    """{loss name: weight}, with `_i` copies (all but loss_saliency) for the aux decoder layers i = 0 .. n_dec - 2."""
    base = {"loss_span": opt.span_loss_coef, "loss_giou": opt.giou_loss_coef, "loss_label": opt.label_loss_coef,
            "loss_saliency": opt.lw_saliency}
    if opt.contrastive_align_loss:
        base["loss_contrastive_align"] = opt.contrastive_align_loss_coef
    weight_dict = dict(base)
    if opt.aux_loss:
        for i in range(opt.dec_layers - 1):
            weight_dict.update({f"{k}_{i}": v for k, v in base.items() if k != "loss_saliency"})
    return weight_dict


def _shift_scale_normalize(scores, labels):
    """Scores shifted by their batch-global min, scaled by the batch-global label range, then L2-normalised per row.

    Quirk (reproduced): min and max run over the whole batch, padded clips included (divides by zero when the
    labels are constant over the batch).
    """
    scores = (scores - scores.min()) / (labels.max() - labels.min())
    return F.normalize(scores, p=2, dim=1)


def _cosine_distance_sum(scores, labels):
    """sum_b (1 - cos(L2norm(labels_b), shift_scale_normalised(scores)_b)); scores, labels (B, L)."""
    labels_n = F.normalize(labels, p=2, dim=1)
    return (1 - F.cosine_similarity(labels_n, _shift_scale_normalize(scores, labels), dim=1)).sum()


def _src_permutation_idx(indices):
    """Matched (batch index, query index) pairs as two flat tensors."""
    batch_idx = torch.cat([torch.full_like(src, i) for i, (src, _) in enumerate(indices)])
    src_idx = torch.cat([src for src, _ in indices])
    return batch_idx, src_idx


class SetCriterion(nn.Module):
    def __init__(self, matcher, weight_dict, eos_coef=0.1, temperature=0.07, saliency_margin=0.2,
                 use_matcher=True, contrastive_align_loss=True, mr_to_hd_loss=False, hard_pos_neg_loss=False,
                 hard_pos_neg_loss_coef=10.0, cos_sim_loss_coef=1.0, mr_to_hd_loss_coef=1.0):
        """use_matcher=False (datasets without windows): only the saliency loss is computed."""
        super().__init__()
        self.matcher = matcher
        self.weight_dict = weight_dict
        self.temperature = temperature
        self.saliency_margin = saliency_margin
        self.use_matcher = use_matcher
        self.mr_to_hd_loss = mr_to_hd_loss
        self.hard_pos_neg_loss = hard_pos_neg_loss
        self.hard_pos_neg_loss_coef = hard_pos_neg_loss_coef
        self.cos_sim_loss_coef = cos_sim_loss_coef
        self.mr_to_hd_loss_coef = mr_to_hd_loss_coef
        self.losses = ["spans", "labels", "saliency"] + (["contrastive_align"] if contrastive_align_loss else [])
        empty_weight = torch.ones(2)
        empty_weight[BACKGROUND] = eos_coef
        self.register_buffer("empty_weight", empty_weight)

    # ---- matched-query losses -------------------------------------------------------------------------------
    def loss_spans(self, outputs, targets, indices, epoch_i):
        """Mean L1 over matched (center, width) pairs and mean (1 - gIoU)."""
        idx = _src_permutation_idx(indices)
        src_spans = outputs["pred_spans"][idx].float()  # (K, 2)
        tgt_spans = torch.cat([t["spans"][j] for t, (_, j) in zip(targets["span_labels"], indices)]).float()
        loss_span = F.l1_loss(src_spans, tgt_spans, reduction="none")
        loss_giou = 1 - torch.diag(generalized_temporal_iou(span_cxw_to_xx(src_spans), span_cxw_to_xx(tgt_spans)))
        return {"loss_span": loss_span.mean(), "loss_giou": loss_giou.mean()}

    def loss_labels(self, outputs, targets, indices, epoch_i):
        """Foreground for matched queries, background for the rest; class weights [1, eos_coef].

        Quirk (reproduced): a plain mean over B * nq of the weighted per-query CE (not F.cross_entropy's
        weighted mean). class_error (logging only) = 100 - top-1 accuracy of the matched queries.
        """
        logits = outputs["pred_logits"].float()  # (B, nq, 2)
        idx = _src_permutation_idx(indices)
        target_classes = torch.full(logits.shape[:2], BACKGROUND, dtype=torch.int64, device=logits.device)
        target_classes[idx] = FOREGROUND
        loss_ce = F.cross_entropy(logits.transpose(1, 2), target_classes,
                                  self.empty_weight.to(logits.device), reduction="none")
        matched = logits[idx]  # (K, 2)
        accuracy = (matched.argmax(-1) == FOREGROUND).float().mean() * 100 if len(matched) else logits.new_zeros(())
        return {"loss_label": loss_ce.mean(), "class_error": 100 - accuracy}

    def loss_contrastive_align(self, outputs, targets, indices, epoch_i):
        """Query <-> text NCE, plus (top layer only) the clip <-> mean-text cosine alignment.

        Quirks (reproduced): the query-text logit sums over all Lq tokens and the mean text pools all Lq tokens,
        padded ones included; aux layers add zeros(1), so their loss has shape (1,).
        """
        proj_queries = outputs["proj_queries"].float()  # (B, nq, h)
        proj_txt = outputs["proj_txt_mem"].float()  # (B, Lq, h)
        logits = torch.einsum("bmd,bnd->bmn", proj_queries, proj_txt).sum(2) / self.temperature  # (B, nq)
        positive_map = torch.zeros_like(logits, dtype=torch.bool)
        positive_map[_src_permutation_idx(indices)] = True
        pos_term = logits.masked_fill(~positive_map, 0).sum(1)  # (B,)
        loss_nce = -pos_term / positive_map.sum(1) + logits.logsumexp(1)  # (B,)
        if "src_txt" in outputs and "src_vid" in outputs:
            align = self.loss_align_vid_txt(outputs, targets)
        else:
            align = logits.new_zeros(1)
        return {"loss_contrastive_align": loss_nce.mean() + align}

    def loss_align_vid_txt(self, outputs, targets):
        """sum_b (1 - cos) between the GT saliency and cos(clip, mean text), shift-scaled over the batch."""
        txt = outputs["src_txt"].float().mean(1)  # (B, d), padded tokens included
        sim = F.cosine_similarity(txt[:, None], outputs["src_vid"].float(), dim=-1)  # (B, Lv), padded clips too
        return _cosine_distance_sum(sim, targets["saliency_all_labels"].float())

    # ---- saliency (top layer only) ----------------------------------------------------------------------------
    def saliency_terms(self, outputs, targets, epoch_i):
        """The terms of loss_saliency as a dict (their sum is loss_saliency)."""
        scores = outputs["saliency_scores"].float()  # (B, L)
        scores_neg = outputs["saliency_scores_neg"].float()  # (B, L)
        vid_mask = outputs["video_mask"].float()  # (B, L)
        labels = targets["saliency_all_labels"].float()  # (B, L)
        terms = {}
        # 1. Negative pair: mismatched text should give low saliency. Written -log(1 - sigmoid(x)) as the reference
        #    (inf for x >~ 17 in float32; mathematically softplus(x)).
        terms["neg_pair"] = (-torch.log(1.0 - torch.sigmoid(scores_neg)) * vid_mask).sum(dim=1).mean()
        terms["rank_contrastive"] = self._rank_contrastive(scores, scores_neg, labels, vid_mask)
        # 3. Margin ranking between the sampled positive and negative clips, x 2.
        pos = scores.gather(1, targets["saliency_pos_labels"])  # (B, P)
        neg = scores.gather(1, targets["saliency_neg_labels"])  # (B, P)
        terms["margin_pairwise"] = torch.clamp(self.saliency_margin + neg - pos, min=0).sum() / pos.numel() * 2
        # 4. Cosine between the saliency distribution and the GT ("scsl").
        terms["cos_sim"] = _cosine_distance_sum(scores, labels) * self.cos_sim_loss_coef
        if self.mr_to_hd_loss:
            terms["mr_to_hd"] = _cosine_distance_sum(outputs["saliency_scores_mr"].float(), labels) \
                * self.mr_to_hd_loss_coef
        if self.hard_pos_neg_loss:
            # Quirk (reproduced): the "adaptive" weight is (epoch_i + 1) * coef; padding counts as negative.
            is_pos = targets["saliency_pos_index"].bool()
            labels_n = F.normalize(labels, p=2, dim=1)
            scores_n = _shift_scale_normalize(scores, labels)
            hard_neg = F.mse_loss(labels_n * ~is_pos, scores_n * ~is_pos)
            hard_pos = F.mse_loss(labels_n * is_pos, scores_n * is_pos)
            terms["hard_pos_neg"] = (hard_neg + hard_pos) * ((epoch_i + 1) * self.hard_pos_neg_loss_coef)
        return terms

    @staticmethod
    def _rank_contrastive(scores, scores_neg, labels, vid_mask):
        """Rank-contrastive loss (QD-DETR) over [positive pair | negative pair] clips, levels r = 1 .. 11.

        For each r, clips with label >= r are positives of a softmax over the row (tau = 0.5); rows without a
        positive contribute 0. Quirk (reproduced): the sum over the 11 levels is divided by 12.
        """
        mask = vid_mask.repeat(1, 2)  # (B, 2L)
        x = torch.cat([scores, scores_neg], dim=1)  # (B, 2L)
        x = mask * x + (1.0 - mask) * -1e3  # padded clips -> -1000
        rank_labels = torch.cat([labels, torch.zeros_like(labels)], dim=1)  # (B, 2L)
        logits = x / RANK_TAU
        logits = logits - logits.max(dim=1, keepdim=True)[0]
        log_prob = logits - torch.log(torch.exp(logits).sum(1, keepdim=True) + 1e-6)  # (B, 2L), same for every r
        levels = torch.arange(1, RANK_THRESHOLDS + 1, device=x.device, dtype=rank_labels.dtype)
        pos_mask = (rank_labels[None] >= levels[:, None, None]).float()  # (R, B, 2L)
        n_pos = pos_mask.sum(2)  # (R, B)
        mean_log_prob_pos = (pos_mask * log_prob * mask).sum(2) / (n_pos + 1e-6)  # (R, B)
        # A level without positives anywhere in the batch adds exactly 0 (the reference skips it).
        loss = -mean_log_prob_pos * (n_pos > 0)
        return loss.mean(1).sum() / (RANK_THRESHOLDS + 1)

    def loss_saliency(self, outputs, targets, indices, epoch_i):
        if "saliency_pos_labels" not in targets:
            return {"loss_saliency": outputs["saliency_scores"].new_zeros(())}
        return {"loss_saliency": sum(self.saliency_terms(outputs, targets, epoch_i).values())}

    # ---- totals ---------------------------------------------------------------------------------------------
    def weighted_total(self, loss_dict):
        """sum of weight * loss over the weighted terms (the authors' order): what is backpropagated."""
        return sum(loss_dict[k] * self.weight_dict[k] for k in loss_dict if k in self.weight_dict)

    def log_values(self, loss_dict, total):
        """{name: float} as the authors log them: weighted terms times their weight, others as they are, and
        loss_overall = the weighted total."""
        values = torch.stack([v.detach().float().sum() for v in loss_dict.values()] + [total.detach().float().sum()])
        *terms, overall = values.tolist()  # one host sync for all terms (each holds one value)
        out = {k: v * self.weight_dict[k] if k in self.weight_dict else v for k, v in zip(loss_dict, terms)}
        out["loss_overall"] = overall
        return out

    # ---- driver -----------------------------------------------------------------------------------------------
    def get_loss(self, loss, outputs, targets, indices, epoch_i):
        loss_map = {"spans": self.loss_spans, "labels": self.loss_labels, "saliency": self.loss_saliency,
                    "contrastive_align": self.loss_contrastive_align}
        return loss_map[loss](outputs, targets, indices, epoch_i)

    def forward(self, outputs, targets, epoch_i=0):
        """outputs: the model's dict; targets: see the module docstring; epoch_i: 0-based epoch (scales the hard
        pos/neg loss; the reference evaluates with 0). Returns {loss name: tensor}; weight them with weight_dict.
        """
        # Losses always run in float32, also when the forward pass ran under autocast.
        with torch.autocast(outputs["saliency_scores"].device.type, enabled=False):
            return self._forward(outputs, targets, epoch_i)

    def _forward(self, outputs, targets, epoch_i):
        if not self.use_matcher:
            return self.loss_saliency(outputs, targets, None, epoch_i)
        outputs_without_aux = {k: v for k, v in outputs.items() if k != "aux_outputs"}
        indices = self.matcher(outputs_without_aux, targets)
        losses = {}
        for loss in self.losses:
            losses.update(self.get_loss(loss, outputs_without_aux, targets, indices, epoch_i))
        for i, aux_outputs in enumerate(outputs.get("aux_outputs", [])):
            indices = self.matcher(aux_outputs, targets)
            for loss in self.losses:
                if loss == "saliency":  # top layer only
                    continue
                l_dict = self.get_loss(loss, aux_outputs, targets, indices, epoch_i)
                losses.update({f"{k}_{i}": v for k, v in l_dict.items()})
        return losses


def build_criterion(opt, moments=True) -> SetCriterion:
    """The losses for the option names. moments=False (datasets without windows: TVSum, YouTube Highlights): only
    the saliency loss, as the authors' use_matcher=False."""
    return SetCriterion(
        matcher=build_matcher(opt), weight_dict=build_weight_dict(opt), eos_coef=opt.eos_coef,
        temperature=opt.temperature, saliency_margin=opt.saliency_margin, use_matcher=moments,
        contrastive_align_loss=opt.contrastive_align_loss, mr_to_hd_loss=opt.mr_to_hd_loss,
        hard_pos_neg_loss=opt.hard_pos_neg_loss, hard_pos_neg_loss_coef=opt.hard_pos_neg_loss_coef,
        cos_sim_loss_coef=opt.cos_sim_loss_coef, mr_to_hd_loss_coef=opt.mr_to_hd_loss_coef)

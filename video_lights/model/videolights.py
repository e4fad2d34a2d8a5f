"""VideoLights (arXiv 2412.01558): joint video moment retrieval (MR) and highlight detection (HD).

Paper component -> file (all in video_lights/model/):
    convolutional input projection      input_projection.py
    feature refinement                  feature_refinement.py
    BiCMF fusion                        bicmf.py
    encoder (global token), decoder     transformer.py (+ attention.py)
    positional encodings                position_encoding.py
    MR -> HD feedback head              mr_to_hd.py
    heads, negative pair, contrastive   this file
    matcher, losses                     matcher.py, criterion.py

Parameter names equal the authors' (dpaul06/VideoLights @ 76308bb), so their state dicts load unchanged, and
parameters are created in the same order, so their optimizer states map onto ours.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

from video_lights.model.feature_refinement import FeatureRefinement
from video_lights.model.input_projection import conv_projection
from video_lights.model.linear import Linear
from video_lights.model.mr_to_hd import GRUExtractor, mr_to_hd_saliency, top1_span_slice
from video_lights.model.position_encoding import PositionEmbeddingSine, TrainablePositionalEncoding
from video_lights.model.transformer import MLP, VLTransformer
from video_lights.utils.spans import inverse_sigmoid

TEF_DIMS = 2  # the temporal endpoint feature appended to every clip (data/inputs.py)


class VideoLights(nn.Module):
    """The VideoLights network; build it with build_model(opt). Constructor arguments are plain numbers/flags."""

    def __init__(self, transformer, position_embed, txt_position_embed, txt_dim, vid_dim, num_queries,
                 input_dropout, aux_loss=True, contrastive_align_loss=False, contrastive_hdim=64,
                 use_txt_pos=False, n_input_proj=2, mr_to_hd_loss=False, clip_length=2):
        super().__init__()
        self.transformer = transformer
        self.position_embed = position_embed
        self.txt_position_embed = txt_position_embed  # only used with use_txt_pos; always built (it is in checkpoints)
        hidden_dim = transformer.d_model
        self.hidden_dim = hidden_dim
        self.clip_length = clip_length
        self.span_embed = MLP(hidden_dim, hidden_dim, 2, 3)
        self.class_embed = Linear(hidden_dim, 2)  # class 0 = foreground, 1 = background
        self.use_txt_pos = use_txt_pos
        self.query_embed = nn.Embedding(num_queries, 2)  # unsigmoided (center, width) anchors
        self.input_txt_proj = conv_projection(txt_dim, hidden_dim, n_input_proj, input_dropout)
        self.input_vid_proj = conv_projection(vid_dim, hidden_dim, n_input_proj, input_dropout)
        self.contrastive_align_loss = contrastive_align_loss
        if contrastive_align_loss:
            self.contrastive_align_projection_query = Linear(hidden_dim, contrastive_hdim)
            self.contrastive_align_projection_txt = Linear(hidden_dim, contrastive_hdim)
            self.contrastive_align_projection_vid = Linear(hidden_dim, contrastive_hdim)  # feeds no loss
        self.feature_refinement = FeatureRefinement(hidden_dim)
        self.saliency_proj1 = Linear(hidden_dim, hidden_dim)
        self.saliency_proj2 = Linear(hidden_dim, hidden_dim)
        self.aux_loss = aux_loss
        self.global_rep_token = nn.Parameter(torch.randn(hidden_dim))
        self.global_rep_pos = nn.Parameter(torch.randn(hidden_dim))
        self.mr_to_hd_loss = mr_to_hd_loss
        if mr_to_hd_loss:
            self.gru_extractor = GRUExtractor(hidden_dim)
            self.saliency_proj_mr = Linear(hidden_dim, hidden_dim)

    def _saliency(self, memory):
        """HD scores (B, Lv) from encoder memory (B, 1 + Lv, d): <proj1(clip), proj2(global)> / sqrt(d), unmasked."""
        scores = (self.saliency_proj1(memory[:, 1:]) * self.saliency_proj2(memory[:, :1])).sum(-1)
        return scores / math.sqrt(self.hidden_dim)

    def forward(self, src_txt, src_txt_mask, src_vid, src_vid_mask, loss_outputs=True):
        """
        Args:
            src_txt: (B, Lq, t_feat_dim) query token features; src_txt_mask: (B, Lq) float, 1 = valid token.
            src_vid: (B, Lv, v_feat_dim) clip features (tef included); src_vid_mask: (B, Lv) float, 1 = valid clip.
            loss_outputs: with False, skip the negative-pair pass and the MR->HD head (their outputs only feed the
                loss); the returned dict then lacks saliency_scores_neg and saliency_scores_mr and every other
                entry is unchanged.
        Returns a dict (spans are (center, width) in [0, 1] of the sample's own, unpadded duration, as the labels):
            pred_logits (B, nq, 2): last decoder layer; class 0 = foreground, 1 = background.
            pred_spans (B, nq, 2): last decoder layer, normalised (center, width).
            saliency_scores (B, Lv): HD scores; padded clips are not masked.
            saliency_scores_neg (B, Lv): HD scores with the text rolled by one within the batch.
            saliency_scores_mr (B, Lv): MR->HD feedback scores (only with mr_to_hd_loss).
            proj_queries (B, nq, h), proj_txt_mem (B, Lq, h), proj_vid_mem (B, Lv, h): L2-normalised contrastive
                projections (only with contrastive_align_loss; h = contrastive_hdim).
            video_mask (B, Lv) = src_vid_mask; src_txt (B, Lq, d) projected text; src_vid (B, Lv, d) refined video.
            aux_outputs: list of n_dec - 1 dicts (decoder layers 0 .. n_dec - 2) with pred_logits, pred_spans and
                the contrastive projections (only with aux_loss).
        """
        if src_txt.shape[1] == 0:
            raise ValueError("src_txt has no tokens (Lq = 0); every query needs at least one token")
        B, Lv = src_vid_mask.shape
        vid0 = self.input_vid_proj(src_vid)  # (B, Lv, d), also the MR->HD head's clips
        txt = self.input_txt_proj(src_txt)  # (B, Lq, d)
        vid = self.feature_refinement(vid0, txt, src_vid_mask, src_txt_mask)  # (B, Lv, d)

        pos_vid = self.position_embed(src_vid_mask).to(vid.dtype)  # (B, Lv, d)
        pos_txt = self.txt_position_embed(txt) if self.use_txt_pos else torch.zeros_like(txt)
        glob = self.global_rep_token.reshape(1, 1, -1).expand(B, 1, -1).to(vid.dtype)
        glob_pos = self.global_rep_pos.reshape(1, 1, -1).expand(B, 1, -1).to(vid.dtype)
        pad_v, pad_t = ~src_vid_mask.bool(), ~src_txt_mask.bool()
        if loss_outputs:
            # Negative pair: the same refined video with the next sample's text (rolled by one in the batch). Both
            # pairs go through the encoder as one batch of 2B (groups=2 keeps the reference's per-call BiCMF mask
            # tiling); only the negative pair's saliency is used, so its decoder (run by the reference) is skipped.
            two = lambda x, x_neg: torch.cat([x, x_neg])  # noqa: E731
            memory, mem_mask, mem_pos = self.transformer.encode(
                two(glob, glob), two(vid, vid), two(txt, torch.roll(txt, -1, dims=0)), two(glob_pos, glob_pos),
                two(pos_vid, pos_vid), two(pos_txt, torch.roll(pos_txt, -1, dims=0)), two(pad_v, pad_v),
                two(pad_t, torch.roll(pad_t, -1, dims=0)), groups=2)
            saliency, saliency_neg = self._saliency(memory).split(B)
            memory, mem_mask, mem_pos = memory[:B], mem_mask[:B], mem_pos[:B]
        else:
            memory, mem_mask, mem_pos = self.transformer.encode(glob, vid, txt, glob_pos, pos_vid, pos_txt, pad_v,
                                                                pad_t)
            saliency = self._saliency(memory)
        hs, references = self.transformer.decode(memory, mem_mask, mem_pos, self.query_embed.weight)
        outputs_class = self.class_embed(hs)  # (n_dec, B, nq, 2)
        outputs_coord = (self.span_embed(hs) + inverse_sigmoid(references)).sigmoid()  # (n_dec, B, nq, 2)
        vid_mem = memory[:, 1:]  # (B, Lv, d)
        out = {"pred_logits": outputs_class[-1], "pred_spans": outputs_coord[-1]}
        if self.contrastive_align_loss:
            proj_queries = F.normalize(self.contrastive_align_projection_query(hs), p=2, dim=-1)
            proj_txt_mem = F.normalize(self.contrastive_align_projection_txt(txt), p=2, dim=-1)
            proj_vid_mem = F.normalize(self.contrastive_align_projection_vid(vid_mem), p=2, dim=-1)
            out.update(proj_queries=proj_queries[-1], proj_txt_mem=proj_txt_mem, proj_vid_mem=proj_vid_mem)
        out["saliency_scores"] = saliency

        if loss_outputs:
            out["saliency_scores_neg"] = saliency_neg
            if self.mr_to_hd_loss:
                start, stop = top1_span_slice(out["pred_logits"], out["pred_spans"], Lv, self.clip_length)
                g = self.gru_extractor(vid0, start, stop)  # (B, d)
                out["saliency_scores_mr"] = mr_to_hd_saliency(vid_mem, vid0, g, self.saliency_proj_mr)

        out["video_mask"] = src_vid_mask
        out["src_txt"] = txt
        out["src_vid"] = vid
        if self.aux_loss:
            out["aux_outputs"] = [{"pred_logits": a, "pred_spans": b} for a, b in zip(outputs_class[:-1],
                                                                                    outputs_coord[:-1])]
            if self.contrastive_align_loss:
                for aux, q in zip(out["aux_outputs"], proj_queries[:-1]):
                    aux.update(proj_queries=q, proj_txt_mem=proj_txt_mem, proj_vid_mem=proj_vid_mem)
        return out


def input_dims(opt):
    """(video, text) input widths of the model: --v_feat_dim (if ctx_mode has "video") plus the 2 tef dims (if
    "tef"), and --t_feat_dim. The one place where tef is added to the video width."""
    vid = (opt.v_feat_dim if "video" in opt.ctx_mode else 0) + (TEF_DIMS if "tef" in opt.ctx_mode else 0)
    return vid, opt.t_feat_dim


def build_model(opt) -> VideoLights:
    """The VideoLights network on CPU from the option names (an argparse.Namespace or similar; config.py).

    Our own option, read with a default so that older namespaces work: fix_bicmf_mask (default False = the
    authors' mis-tiled BiCMF attention mask, see model/bicmf.py).
    """
    transformer = VLTransformer(
        d_model=opt.hidden_dim, nhead=opt.nheads, num_bicmf_layers=opt.bicmf_layers,
        num_encoder_layers=opt.enc_layers, num_decoder_layers=opt.dec_layers,
        dim_feedforward=opt.dim_feedforward, dropout=opt.dropout,
        fix_bicmf_mask=getattr(opt, "fix_bicmf_mask", False))
    vid_dim, txt_dim = input_dims(opt)
    return VideoLights(
        transformer, PositionEmbeddingSine(opt.hidden_dim),
        TrainablePositionalEncoding(opt.max_q_l, opt.hidden_dim, dropout=opt.input_dropout),
        txt_dim=txt_dim, vid_dim=vid_dim, num_queries=opt.num_queries, input_dropout=opt.input_dropout,
        aux_loss=opt.aux_loss, contrastive_align_loss=opt.contrastive_align_loss,
        contrastive_hdim=opt.contrastive_hdim, use_txt_pos=opt.use_txt_pos, n_input_proj=opt.n_input_proj,
        mr_to_hd_loss=opt.mr_to_hd_loss, clip_length=opt.clip_length)

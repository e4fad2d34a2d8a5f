"""VLTransformer: BiCMF fusion -> video encoder with the global token -> anchor (DAB-DETR style) moment decoder.

BiCMF and the encoder are batch-first (B, L, d), the decoder sequence-first (nq, B, d) as the reference.
Key-padding masks are bool with True = padding.
All transformer FFNs use PReLU (one learned slope per layer), as the reference's build_transformer hard-wires.
"""
import copy

import torch
import torch.nn.functional as F
from torch import nn

from video_lights.model.attention import DecoderAttention, MultiheadAttention
from video_lights.model.bicmf import BiCMF, BiCMFLayer
from video_lights.model.dropout import Dropout
from video_lights.model.linear import Linear
from video_lights.model.prelu import PReLU
from video_lights.model.position_encoding import anchor_sine_embed
from video_lights.utils.spans import inverse_sigmoid


class MLP(nn.Module):
    """num_layers Linear layers with ReLU between them (none after the last)."""

    def __init__(self, input_dim, hidden_dim, output_dim, num_layers):
        super().__init__()
        dims_in = [input_dim] + [hidden_dim] * (num_layers - 1)
        dims_out = [hidden_dim] * (num_layers - 1) + [output_dim]
        self.layers = nn.ModuleList(Linear(i, o) for i, o in zip(dims_in, dims_out))

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


class TransformerEncoderLayer(nn.Module):
    """Post-norm self-attention layer over [global token; video clips]."""

    def __init__(self, d_model, nhead, dim_feedforward=1024, dropout=0.1):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout)
        self.linear1 = Linear(d_model, dim_feedforward)
        self.linear2 = Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.activation = PReLU()
        self.dropout = Dropout(dropout)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)

    def forward(self, src, key_padding_mask, pos):
        """src, pos (B, L, d); key_padding_mask (B, L). Returns (B, L, d)."""
        q = k = src + pos
        src2 = self.self_attn(q, k, src, key_padding_mask)
        src = self.norm1(src + self.dropout1(src2))
        src2 = self.linear2(self.dropout(self.activation(self.linear1(src))))
        return self.norm2(src + self.dropout2(src2))


class TransformerEncoder(nn.Module):
    def __init__(self, layer, num_layers):
        super().__init__()
        self.layers = nn.ModuleList([copy.deepcopy(layer) for _ in range(num_layers)])

    def forward(self, src, key_padding_mask, pos):
        for layer in self.layers:
            src = layer(src, key_padding_mask, pos)
        return src


class TransformerDecoderLayer(nn.Module):
    """Conditional-DETR decoder layer: separate content/position projections, [content | sine] cross-attention."""

    def __init__(self, d_model, nhead, dim_feedforward=1024, dropout=0.1):
        super().__init__()
        self.nhead = nhead
        self.sa_qcontent_proj = Linear(d_model, d_model)
        self.sa_qpos_proj = Linear(d_model, d_model)
        self.sa_kcontent_proj = Linear(d_model, d_model)
        self.sa_kpos_proj = Linear(d_model, d_model)
        self.sa_v_proj = Linear(d_model, d_model)
        self.self_attn = DecoderAttention(d_model, nhead, dropout=dropout, vdim=d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.dropout1 = Dropout(dropout)

        self.ca_qcontent_proj = Linear(d_model, d_model)
        self.ca_qpos_proj = Linear(d_model, d_model)  # set to None in every layer but the first
        self.ca_kcontent_proj = Linear(d_model, d_model)
        self.ca_kpos_proj = Linear(d_model, d_model)
        self.ca_v_proj = Linear(d_model, d_model)
        self.ca_qpos_sine_proj = Linear(d_model, d_model)
        self.cross_attn = DecoderAttention(d_model * 2, nhead, dropout=dropout, vdim=d_model)

        self.linear1 = Linear(d_model, dim_feedforward)
        self.linear2 = Linear(dim_feedforward, d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)
        self.dropout = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = PReLU()

    def forward(self, tgt, memory, memory_key_padding_mask, pos, pos_index, query_pos, query_sine_embed, is_first):
        """tgt (nq, B, d) content; memory (Lv, B, d); memory_key_padding_mask (B, Lv); pos (Lv, P, d) the P
        distinct clip positions, pos_index (B,) which one each sample has; query_pos, query_sine_embed (nq, B, d).
        Returns (nq, B, d)."""
        q = self.sa_qcontent_proj(tgt) + self.sa_qpos_proj(query_pos)
        k = self.sa_kcontent_proj(tgt) + self.sa_kpos_proj(query_pos)
        tgt = self.norm1(tgt + self.dropout1(self.self_attn(q, k, self.sa_v_proj(tgt))))

        nq, B, d = tgt.shape
        Lv = memory.shape[0]
        H = self.nhead
        q = self.ca_qcontent_proj(tgt)
        k = self.ca_kcontent_proj(memory)
        v = self.ca_v_proj(memory)
        k_pos = self.ca_kpos_proj(pos).index_select(1, pos_index)  # (Lv, B, d)
        if is_first:
            q = q + self.ca_qpos_proj(query_pos)
            k = k + k_pos
        sine = self.ca_qpos_sine_proj(query_sine_embed)
        q = torch.cat([q.view(nq, B, H, d // H), sine.view(nq, B, H, d // H)], dim=3).view(nq, B, 2 * d)
        k = torch.cat([k.view(Lv, B, H, d // H), k_pos.view(Lv, B, H, d // H)], dim=3).view(Lv, B, 2 * d)
        tgt2 = self.cross_attn(q, k, v, key_padding_mask=memory_key_padding_mask)
        tgt = self.norm2(tgt + self.dropout2(tgt2))
        tgt2 = self.linear2(self.dropout(self.activation(self.linear1(tgt))))
        return self.norm3(tgt + self.dropout3(tgt2))


class AnchorDecoder(nn.Module):
    """DAB-DETR decoder with 2-D anchors (center, width), refined layer by layer by a shared bbox_embed."""

    def __init__(self, layer, num_layers, d_model):
        super().__init__()
        self.layers = nn.ModuleList([copy.deepcopy(layer) for _ in range(num_layers)])
        for layer_ in self.layers[1:]:
            layer_.ca_qpos_proj = None
        self.norm = nn.LayerNorm(d_model)
        self.query_scale = MLP(d_model, d_model, d_model, 2)
        self.ref_point_head = MLP(d_model, d_model, d_model, 2)
        self.bbox_embed = MLP(d_model, d_model, 2, 3)
        # the authors zero the last layer (DAB-DETR); VLTransformer's xavier init redraws its weight, the bias stays 0
        nn.init.constant_(self.bbox_embed.layers[-1].bias, 0.0)
        self.ref_anchor_head = MLP(d_model, d_model, 1, 2)
        self.d_model = d_model

    def forward(self, tgt, memory, memory_key_padding_mask, pos, pos_index, refpoints_unsigmoid):
        """tgt (nq, B, d) zeros; memory (Lv, B, d); memory_key_padding_mask (B, Lv); pos (Lv, P, d) the distinct
        clip positions and pos_index (B,), as the layer takes them; refpoints_unsigmoid (nq, B, 2).

        Returns hs (n_dec, B, nq, d), the normed output of every layer, and references (n_dec, B, nq, 2), the
        (sigmoid) anchor each layer started from; references[l] for l > 0 keep their gradient.
        """
        output = tgt
        reference = refpoints_unsigmoid.sigmoid()
        references = [reference]
        intermediate = []
        for layer_id, layer in enumerate(self.layers):
            query_sine_embed = anchor_sine_embed(reference, self.d_model)  # (nq, B, d)
            query_pos = self.ref_point_head(query_sine_embed)
            if layer_id > 0:
                query_sine_embed = query_sine_embed * self.query_scale(output)
            # One scalar (predicted width / anchor width) modulates all 256 dims (unlike DAB-DETR's x/y split).
            ref_width = self.ref_anchor_head(output).sigmoid()  # (nq, B, 1)
            query_sine_embed = query_sine_embed * (ref_width[..., 0] / reference[..., 1]).unsqueeze(-1)
            output = layer(output, memory, memory_key_padding_mask, pos, pos_index, query_pos, query_sine_embed,
                           is_first=layer_id == 0)
            new_reference = (self.bbox_embed(output) + inverse_sigmoid(reference)).sigmoid()
            if layer_id != len(self.layers) - 1:
                references.append(new_reference)
            reference = new_reference.detach()
            intermediate.append(self.norm(output))
        return torch.stack(intermediate).transpose(1, 2), torch.stack(references).transpose(1, 2)


class VLTransformer(nn.Module):
    def __init__(self, d_model=256, nhead=8, num_bicmf_layers=1, num_encoder_layers=3, num_decoder_layers=3,
                 dim_feedforward=1024, dropout=0.1, fix_bicmf_mask=False):
        super().__init__()
        self.t2v_encoder = BiCMF(BiCMFLayer(d_model, nhead, dim_feedforward, dropout, fix_bicmf_mask),
                                 num_bicmf_layers)
        self.encoder = TransformerEncoder(TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout),
                                          num_encoder_layers)
        self.decoder = AnchorDecoder(TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout),
                                     num_decoder_layers, d_model)
        self.d_model = d_model
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def encode(self, glob, vid, txt, glob_pos, vid_pos, txt_pos, pad_v, pad_t, groups=1):
        """BiCMF fusion of video and text, then the video encoder over [global token; fused video].

        glob, glob_pos (B, 1, d); vid, vid_pos (B, Lv, d); txt, txt_pos (B, Lq, d); pad_v (B, Lv), pad_t (B, Lq)
        bool, True = padding; groups: the batch stacks that many batches the reference encodes in separate calls
        (model/bicmf.py). Returns memory (B, 1 + Lv, d) (index 0 = global token), its padding mask (B, 1 + Lv)
        and pos (B, 1 + Lv, d). The text tokens are dropped after fusion: the encoder sees only [global; video].
        """
        vid = self.t2v_encoder(vid, txt, vid_pos, txt_pos, pad_v, pad_t, groups)
        src, pos = torch.cat([glob, vid], dim=1), torch.cat([glob_pos, vid_pos], dim=1)
        key_padding_mask = torch.cat([pad_v.new_zeros(len(pad_v), 1), pad_v], dim=1)
        return self.encoder(src, key_padding_mask, pos), key_padding_mask, pos

    def decode(self, memory, key_padding_mask, pos, query_embed):
        """memory, pos (B, 1 + Lv, d) from encode (the global token is not attended); query_embed (nq, 2)
        unsigmoided anchors.

        Returns hs (n_dec, B, nq, d) and references (n_dec, B, nq, 2)."""
        B = memory.shape[0]
        refpoints = query_embed.unsqueeze(1).repeat(1, B, 1)  # (nq, B, 2)
        tgt = memory.new_zeros(refpoints.shape[0], B, self.d_model)
        clips = memory[:, 1:].transpose(0, 1).contiguous()  # (Lv, B, d)
        # The clips' positions are PositionEmbeddingSine of the padding (videolights.py), so samples with the same
        # padding have the same ones: the decoder projects each distinct padding's once (QVHighlights: 9 in 10 videos
        # have 75 clips). A position encoding that depends on more than the padding must pass pos_index = arange(B).
        pad = key_padding_mask[:, 1:]
        distinct, pos_index = torch.unique(pad, dim=0, return_inverse=True)  # (P, Lv), (B,)
        sample = pos_index.new_empty(len(distinct)).scatter_(0, pos_index, torch.arange(B, device=pad.device))
        clip_pos = pos[sample, 1:].transpose(0, 1).contiguous()  # (Lv, P, d): any sample of each padding
        return self.decoder(tgt, clips, pad, clip_pos, pos_index, refpoints)

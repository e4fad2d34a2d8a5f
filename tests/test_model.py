"""Model behaviour on small configurations (fast): output contract, loss_outputs=False, the fix_bicmf_mask
switch, MR->HD clip selection, autocast."""

import pytest
import torch

from conftest import tiny_opt
from video_lights.model import build_criterion, build_model, input_dims
from video_lights.model.mr_to_hd import select_clips, top1_span_slice


def _opt(**overrides):
    return tiny_opt(**overrides)


def _batch(vid_lens, txt_lens, opt, seed=0):
    g = torch.Generator().manual_seed(seed)
    B, Lv, Lq = len(vid_lens), max(vid_lens), max(txt_lens)
    vid_mask = (torch.arange(Lv)[None] < torch.tensor(vid_lens)[:, None]).float()
    txt_mask = (torch.arange(Lq)[None] < torch.tensor(txt_lens)[:, None]).float()
    src_vid = torch.randn(B, Lv, input_dims(opt)[0], generator=g) * vid_mask[..., None]  # zero padded, as the loader
    src_txt = torch.randn(B, Lq, opt.t_feat_dim, generator=g) * txt_mask[..., None]
    return dict(src_txt=src_txt, src_txt_mask=txt_mask, src_vid=src_vid, src_vid_mask=vid_mask)


def _model(opt, seed=0):
    torch.manual_seed(seed)
    model, criterion = build_model(opt), build_criterion(opt)
    return model.eval(), criterion


def test_output_contract():
    opt = _opt()
    model, _ = _model(opt)
    with torch.no_grad():
        out = model(**_batch([9, 6, 7], [5, 3, 4], opt))
    B, Lv, Lq, nq, h, d = 3, 9, 5, opt.num_queries, opt.contrastive_hdim, opt.hidden_dim
    shapes = {"pred_logits": (B, nq, 2), "pred_spans": (B, nq, 2), "proj_queries": (B, nq, h),
              "proj_txt_mem": (B, Lq, h), "proj_vid_mem": (B, Lv, h), "saliency_scores": (B, Lv),
              "saliency_scores_neg": (B, Lv), "saliency_scores_mr": (B, Lv), "video_mask": (B, Lv),
              "src_txt": (B, Lq, d), "src_vid": (B, Lv, d)}
    assert {k: tuple(v.shape) for k, v in out.items() if k != "aux_outputs"} == shapes
    assert len(out["aux_outputs"]) == opt.dec_layers - 1
    for aux in out["aux_outputs"]:
        assert set(aux) == {"pred_logits", "pred_spans", "proj_queries", "proj_txt_mem", "proj_vid_mem"}
    assert ((out["pred_spans"] > 0) & (out["pred_spans"] < 1)).all()


def test_flags_remove_outputs_and_parameters():
    opt = _opt(contrastive_align_loss=False, mr_to_hd_loss=False, aux_loss=False)
    model, criterion = _model(opt)
    names = [n for n, _ in model.named_parameters()]
    assert not any(n.startswith(("contrastive_align", "gru_extractor", "saliency_proj_mr")) for n in names)
    batch = _batch([9, 6], [5, 3], opt)
    with torch.no_grad():
        out = model(**batch)
    assert not {"proj_queries", "saliency_scores_mr", "aux_outputs"} & set(out)
    targets = {"span_labels": [{"spans": torch.tensor([[0.5, 0.2]])}] * 2,
               "saliency_pos_labels": torch.tensor([[1, 2], [0, 1]]),
               "saliency_neg_labels": torch.tensor([[5, 6], [4, 5]]),
               "saliency_pos_index": torch.zeros(2, 9, dtype=torch.long), "saliency_all_labels": torch.rand(2, 9)}
    assert set(criterion(out, targets, 0)) == {"loss_span", "loss_giou", "loss_label", "class_error", "loss_saliency"}


def test_loss_outputs_false():
    opt = _opt()
    model, _ = _model(opt)
    batch = _batch([9, 6, 7], [5, 3, 4], opt)
    with torch.no_grad():
        full, lean = model(**batch), model(**batch, loss_outputs=False)
    assert set(full) - set(lean) == {"saliency_scores_neg", "saliency_scores_mr"}
    for k, v in lean.items():
        if k == "saliency_scores":  # the full pass scores 2B rows in one matmul: its blocking may move the last bit
            torch.testing.assert_close(v, full[k], rtol=0, atol=1e-6)
        elif k != "aux_outputs":
            assert torch.equal(v, full[k]), k


def _per_sample_max_diff(model, opt, vid_lens, txt_lens):
    """max |batched - alone| over each sample's valid outputs (logits, spans, saliency)."""
    batch = _batch(vid_lens, txt_lens, opt)
    with torch.no_grad():
        out = model(**batch, loss_outputs=False)
        diffs = []
        for b, (nv, nt) in enumerate(zip(vid_lens, txt_lens)):
            alone = model(src_txt=batch["src_txt"][b:b + 1, :nt], src_txt_mask=batch["src_txt_mask"][b:b + 1, :nt],
                          src_vid=batch["src_vid"][b:b + 1, :nv], src_vid_mask=batch["src_vid_mask"][b:b + 1, :nv],
                          loss_outputs=False)
            diffs.append(max((out["pred_logits"][b] - alone["pred_logits"][0]).abs().max().item(),
                             (out["pred_spans"][b] - alone["pred_spans"][0]).abs().max().item(),
                             (out["saliency_scores"][b, :nv] - alone["saliency_scores"][0]).abs().max().item()))
    return diffs


@pytest.mark.parametrize("vid_lens,txt_lens", [([12, 7, 12, 5], [6, 8, 8, 3]),
                                                ([12, 5, 12, 9, 4, 12, 10, 12], [8, 4, 6, 8, 2, 8, 7, 5])])
def test_fix_bicmf_mask_makes_samples_batch_independent(vid_lens, txt_lens):
    quirk, _ = _model(_opt())
    fixed, _ = _model(_opt(fix_bicmf_mask=True))
    fixed.load_state_dict(quirk.state_dict())
    assert max(_per_sample_max_diff(fixed, _opt(), vid_lens, txt_lens)) < 1e-5
    # the authors' tiling leaks other samples' padding into some heads: a sample's outputs depend on its batch
    assert max(_per_sample_max_diff(quirk, _opt(), vid_lens, txt_lens)) > 1e-4


def test_mr_to_hd_clip_selection_follows_python_slicing():
    g = torch.Generator().manual_seed(0)
    B, Lv, nq, clip_len = 64, 10, 5, 2
    logits = torch.randn(B, nq, 2, generator=g)
    spans = torch.rand(B, nq, 2, generator=g) * torch.tensor([1.4, 1.0]) - torch.tensor([0.2, 0.0])  # off-range too
    clips = torch.randn(B, Lv, 3, generator=g)
    start, stop = top1_span_slice(logits, spans, Lv, clip_len)
    seq = select_clips(clips, start, stop)
    for b in range(B):
        q = int(logits[b].softmax(-1)[:, 0].argmax())
        c, w = spans[b, q].tolist()
        st = int(torch.floor(torch.tensor((c - w / 2) * Lv * clip_len) / clip_len))
        ed = int(torch.floor(torch.tensor((c + w / 2) * Lv * clip_len) / clip_len))
        expected = clips[b, st:ed + 1]  # the reference's Python slice (negative st counts from the end)
        n = len(expected)
        assert torch.equal(seq[b, :n], expected) and not seq[b, n:].any(), b


def test_autocast_bfloat16_runs_and_keeps_float32_losses():
    opt = _opt()
    model, criterion = _model(opt)
    model.train()
    batch = _batch([9, 6], [5, 3], opt)
    targets = {"span_labels": [{"spans": torch.tensor([[0.5, 0.2]])},
                               {"spans": torch.tensor([[0.3, 0.1], [0.7, 0.2]])}],
               "saliency_pos_labels": torch.tensor([[1, 2], [0, 1]]),
               "saliency_neg_labels": torch.tensor([[5, 6], [4, 5]]),
               "saliency_pos_index": torch.tensor([[0, 1, 1] + [0] * 6, [1, 1] + [0] * 7]),
               "saliency_all_labels": torch.tensor([[0, 3., 5.] + [0] * 6, [2., 7.] + [0] * 7])}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(**batch)
        losses = criterion(out, targets, 0)
    total = criterion.weighted_total(losses)
    assert all(v.dtype == torch.float32 for v in losses.values())
    assert torch.isfinite(total).all()
    total.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_initialisation_as_the_authors():
    """Decoder attention output-projection biases and the last bbox_embed bias start at 0; weights are xavier."""
    model = build_model(_opt())
    decoder = model.transformer.decoder
    for layer in decoder.layers:
        for attn in (layer.self_attn, layer.cross_attn):
            assert torch.count_nonzero(attn.out_proj.bias) == 0
    last = decoder.bbox_embed.layers[-1]
    assert torch.count_nonzero(last.bias) == 0 and torch.count_nonzero(last.weight) == last.weight.numel()
    bound = (6 / sum(last.weight.shape)) ** 0.5  # xavier_uniform redraws the authors' zeroed weight
    assert last.weight.abs().max() <= bound
    assert torch.count_nonzero(model.span_embed.layers[-1].bias) > 0  # other biases keep PyTorch's default init


def test_decoder_projects_each_distinct_clip_position_once_with_the_same_result():
    """decode() projects the clip positions of each distinct padding once (pos_index maps samples to them); the
    result equals projecting every sample's own positions, with gradients."""
    opt = _opt()
    model, _ = _model(opt)
    model.train()
    inputs = _batch([9, 9, 6, 9, 6, 7], [5, 3, 4, 5, 2, 4], opt)
    d = opt.hidden_dim
    memory = torch.randn(6, 10, d, requires_grad=True)
    pad = torch.cat([torch.zeros(6, 1, dtype=torch.bool), ~inputs["src_vid_mask"].bool()], dim=1)
    pos = torch.cat([torch.randn(6, 1, d), model.position_embed(inputs["src_vid_mask"])], dim=1)
    calls = []
    layer = model.transformer.decoder.layers[0]
    hook = layer.ca_kpos_proj.register_forward_hook(lambda m, args, out: calls.append(args[0].shape[1]))
    torch.manual_seed(0)
    hs, refs = model.transformer.decode(memory, pad, pos, model.query_embed.weight)
    hook.remove()
    assert calls == [3]  # paddings of 9, 6 and 7 clips
    model.zero_grad()
    hs.sum().backward()
    grads = layer.ca_kpos_proj.weight.grad.clone()

    B = 6
    refpoints = model.query_embed.weight.unsqueeze(1).repeat(1, B, 1)
    tgt = memory.new_zeros(refpoints.shape[0], B, d)
    clips, clip_pos = (x[:, 1:].transpose(0, 1).contiguous() for x in (memory, pos))
    torch.manual_seed(0)
    hs_all, refs_all = model.transformer.decoder(tgt, clips, pad[:, 1:], clip_pos, torch.arange(B), refpoints)
    torch.testing.assert_close(hs, hs_all, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(refs, refs_all, rtol=1e-5, atol=1e-5)
    model.zero_grad()
    hs_all.sum().backward()
    torch.testing.assert_close(grads, layer.ca_kpos_proj.weight.grad, rtol=1e-4, atol=1e-5)

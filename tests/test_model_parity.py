"""Parity with the authors' model on the reference fixture (../shared/ref_fixture, batch 1)."""
import argparse
import json

import pytest
import torch

from video_lights.config import load_opt
from video_lights.engine.training import build_optimizer
from video_lights.model import build_criterion, build_model

ATOL_OUT = 1e-4
RTOL_LOSS = 1e-4
RTOL_GRAD = 1e-3
# Keys whose gradient is mathematically zero (the decoder's first-layer self-attention sees all-zero content, so
# its values are identical for every key; key biases shift every logit of a row equally) carry only float noise
# (< 1e-6) in both implementations; relative comparison is meaningless there, so they are checked to stay noise.
GRAD_NOISE = 1e-6


def _load(ref_fixture, name):
    return torch.load(ref_fixture / name, weights_only=True)


def _opt(ref_fixture):
    return load_opt(ref_fixture / "opt.json")  # the authors' resolved namespace (v_feat_dim 3586 with tef)


def _fixture_model(ref_fixture):
    opt = _opt(ref_fixture)
    model, criterion = build_model(opt), build_criterion(opt)
    model.load_state_dict(_load(ref_fixture, "model_state.pt"), strict=True)
    return model, criterion


@pytest.fixture(scope="module")
def ref(ref_fixture):
    model, criterion = _fixture_model(ref_fixture)
    model.eval()
    batch = _load(ref_fixture, "batch1_inputs.pt")
    with torch.no_grad():
        outputs = model(**batch["model_inputs"])
    return argparse.Namespace(model=model, criterion=criterion, batch=batch, outputs=outputs)


def _assert_outputs_close(ours, theirs, prefix=""):
    assert set(ours) == set(theirs), f"{prefix}keys differ: {set(ours) ^ set(theirs)}"
    for k, v in theirs.items():
        if k == "aux_outputs":
            assert len(ours[k]) == len(v)
            for i, (a, b) in enumerate(zip(ours[k], v)):
                _assert_outputs_close(a, b, f"aux_outputs[{i}].")
            continue
        assert ours[k].shape == v.shape, f"{prefix}{k}: {ours[k].shape} vs {v.shape}"
        err = (ours[k] - v).abs().max().item()
        assert err <= ATOL_OUT, f"{prefix}{k}: max abs diff {err:.3g}"


def test_state_dict_names_shapes_and_order(ref_fixture):
    model = build_model(_opt(ref_fixture))
    theirs = _load(ref_fixture, "model_state.pt")
    ours = model.state_dict()
    assert list(ours) == list(theirs)  # same order too: the authors' optimizer states map onto our parameters
    assert [n for n, _ in model.named_parameters()] == list(theirs)
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in theirs.items()}
    assert sum(p.numel() for p in model.parameters()) == 10_796_263


def test_eval_outputs_match_fixture(ref, ref_fixture):
    _assert_outputs_close(ref.outputs, _load(ref_fixture, "batch1_outputs_eval.pt"))


def test_intermediates_match_fixture(ref, ref_fixture):
    inter = _load(ref_fixture, "batch1_intermediates.pt")
    assert (ref.outputs["src_txt"] - inter["input_txt_proj"][0]).abs().max() < ATOL_OUT
    assert (ref.outputs["src_vid"] - inter["feature_refinement"][0]).abs().max() < ATOL_OUT
    vid_mask = ref.batch["model_inputs"]["src_vid_mask"]
    assert (ref.model.position_embed(vid_mask) - inter["position_embed"][0]).abs().max() < ATOL_OUT


def test_submodule_outputs_match_fixture_hooks(ref, ref_fixture):
    """Forward-hook outputs: the reference runs the transformer's submodules for the positive pair, then for the
    negative pair (whose decoder we skip: the reference's result for it is discarded); we run BiCMF and the
    encoder once on both pairs stacked into one batch (positive first), batch-first."""
    inter = _load(ref_fixture, "batch1_intermediates.pt")
    names = ["transformer.t2v_encoder", "transformer.encoder", "transformer.decoder", "gru_extractor"]
    got = {n: [] for n in names}
    modules = dict(ref.model.named_modules())
    hooks = [modules[n].register_forward_hook(lambda m, i, o, n=n: got[n].append(o)) for n in names]
    try:
        with torch.no_grad():
            ref.model(**ref.batch["model_inputs"])
    finally:
        for h in hooks:
            h.remove()
    assert [len(got[n]) for n in names] == [1, 1, 1, 1]
    B, Lv = ref.batch["model_inputs"]["src_vid_mask"].shape
    fused, memory = got["transformer.t2v_encoder"][0].split(B), got["transformer.encoder"][0].split(B)
    # theirs: [global; video; text] sequence-first, of which BiCMF updates the video
    pairs = [(fused[i], inter["transformer.t2v_encoder"][i][1:1 + Lv].transpose(0, 1)) for i in range(2)]
    pairs += [(memory[i], inter["transformer.encoder"][i].transpose(0, 1)) for i in range(2)]
    pairs += list(zip(got["transformer.decoder"][0], inter["transformer.decoder"][0]))  # hs, references
    pairs += [(got["gru_extractor"][0], inter["gru_extractor"][0])]
    for ours, theirs in pairs:
        assert ours.shape == theirs.shape
        assert (ours - theirs).abs().max() < ATOL_OUT


def test_loss_outputs_false_skips_only_loss_outputs(ref):
    """Same outputs without the loss-only parts, up to float rounding: with them the positive pair shares its
    encoder batch with the negative pair, and a matrix product may round differently at another batch size."""
    with torch.no_grad():
        lean = ref.model(**ref.batch["model_inputs"], loss_outputs=False)
    full = {k: v for k, v in ref.outputs.items() if k not in ("saliency_scores_neg", "saliency_scores_mr")}
    assert set(lean) == set(full)
    for k, v in full.items():
        if k == "aux_outputs":
            for a, b in zip(lean[k], v):
                for kk in b:
                    torch.testing.assert_close(a[kk], b[kk], rtol=0, atol=1e-6, msg=kk)
        else:
            torch.testing.assert_close(lean[k], v, rtol=0, atol=1e-6, msg=k)


def test_weight_dict_matches_fixture(ref, ref_fixture):
    assert ref.criterion.weight_dict == json.loads((ref_fixture / "weight_dict.json").read_text())


@pytest.mark.parametrize("epoch_i", [0, 4])
def test_losses_match_fixture(ref, ref_fixture, epoch_i):
    fixture = _load(ref_fixture, "batch1_losses.pt")
    expected = fixture[f"eval_epoch{epoch_i}"]
    losses = ref.criterion(ref.outputs, ref.batch["targets"], epoch_i)
    assert list(losses) == list(expected["loss_dict"])
    for k, v in expected["loss_dict"].items():
        assert losses[k].shape == v.shape, k
        torch.testing.assert_close(losses[k], v, rtol=RTOL_LOSS, atol=0, msg=k)
    w = ref.criterion.weight_dict
    total = sum(losses[k] * w[k] for k in losses if k in w)
    torch.testing.assert_close(total, expected["weighted_total"], rtol=RTOL_LOSS, atol=0)
    terms = ref.criterion.saliency_terms(ref.outputs, ref.batch["targets"], epoch_i)
    for k, v in fixture[f"breakdown_eval_epoch{epoch_i}"]["saliency"].items():
        if k != "loss_saliency":
            torch.testing.assert_close(terms[k], v, rtol=RTOL_LOSS, atol=0, msg=k)


def test_matcher_indices_match_fixture(ref, ref_fixture):
    expected = _load(ref_fixture, "batch1_matcher.pt")["eval"]
    targets = ref.batch["targets"]
    outs = {"final": {k: v for k, v in ref.outputs.items() if k != "aux_outputs"}}
    outs.update({f"aux_{i}": a for i, a in enumerate(ref.outputs["aux_outputs"])})
    for name, out in outs.items():
        got = ref.criterion.matcher(out, targets)
        for (i, j), (ei, ej) in zip(got, expected[name]):
            assert torch.equal(i, ei) and torch.equal(j, ej), name


def test_train_step_gradients_and_adamw_update(ref_fixture):
    """One train.py step (dropout off): loss, per-key grad norms, clipping, per-key AdamW deltas."""
    step = _load(ref_fixture, "batch1_train_step.pt")
    model, criterion = _fixture_model(ref_fixture)
    model.train()
    for m in model.modules():  # dropout off, as the fixture (nn.Dropout.p and attention modules' .dropout)
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
        if hasattr(m, "dropout") and isinstance(m.dropout, float):
            m.dropout = 0.0
    batch = _load(ref_fixture, "batch1_inputs.pt")
    outputs = model(**batch["model_inputs"])
    _assert_outputs_close({k: v.detach() if torch.is_tensor(v) else v for k, v in outputs.items()},
                          _load(ref_fixture, "batch1_outputs_train_nodropout.pt"))
    with torch.no_grad():
        matched = criterion.matcher({k: v for k, v in outputs.items() if k != "aux_outputs"}, batch["targets"])
    expected = _load(ref_fixture, "batch1_matcher.pt")["train_nodropout"]["final"]
    assert all(torch.equal(i, ei) and torch.equal(j, ej) for (i, j), (ei, ej) in zip(matched, expected))
    losses = criterion(outputs, batch["targets"], 0)
    for k, v in step["loss_dict"].items():
        torch.testing.assert_close(losses[k], v, rtol=RTOL_LOSS, atol=0, msg=k)
    total = criterion.weighted_total(losses)
    torch.testing.assert_close(total, step["weighted_total"], rtol=RTOL_LOSS, atol=0)

    optimizer = build_optimizer(model, argparse.Namespace(lr=step["lr"], wd=step["optimizer"]["weight_decay"]))
    assert optimizer.defaults["fused"]  # the trainer's fused AdamW, against the authors' default one
    optimizer.zero_grad()
    total.backward()
    params = dict(model.named_parameters())
    no_grad = sorted(n for n, p in params.items() if p.grad is None)
    assert no_grad == sorted(step["params_without_grad"])
    before = {n: p.detach().clone() for n, p in params.items()}
    grad_norms = {n: p.grad.double().norm().item() for n, p in params.items() if p.grad is not None}
    total_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), step["grad_clip"])
    torch.testing.assert_close(total_norm, step["grad_total_norm_before_clip"], rtol=RTOL_GRAD, atol=0)
    optimizer.step()

    for n, p in params.items():
        delta = (p.detach().double() - before[n].double()).norm().item()
        ref_delta = step["param_delta_norm"][n]
        if n in step["params_without_grad"]:
            assert delta == 0.0, n
            continue
        g, ref_g = grad_norms[n], step["grad_norm_before_clip"][n]
        if ref_g < GRAD_NOISE:
            assert g < GRAD_NOISE and delta < GRAD_NOISE and ref_delta < GRAD_NOISE, n
            continue
        assert abs(g - ref_g) <= RTOL_GRAD * ref_g, f"{n}: grad norm {g:.6g} vs {ref_g:.6g}"
        assert abs(delta - ref_delta) <= RTOL_GRAD * ref_delta, f"{n}: delta norm {delta:.6g} vs {ref_delta:.6g}"

"""CLIP and BLIP-2 feature extractors on tiny random weights (saved to disk and loaded through the real loading
code), OpenAI's text cleaning and the golden CLIP token ids of ../shared/clip_bpe, LAVIS' caption cleaning.
Nothing downloads: models come from temporary directories; hub ids resolve in the local cache only."""
import json
import os
import shutil

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("ftfy")

from video_lights.features import blip2, clip  # noqa: E402
from video_lights.features.blip2 import Blip2Extractor, blip_caption_clean  # noqa: E402
from video_lights.features.clip import (ClipExtractor, ModelError, clip_token_ids, openai_clean,  # noqa: E402
                                        pixel_values, tokenizer_from_bpe)
from video_lights.utils.cli import UserError  # noqa: E402


def _frames(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 224, 224, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    return clip.save_tiny_random(tmp_path_factory.mktemp("clip"))


@pytest.fixture(scope="module")
def blip_dir(tmp_path_factory):
    return blip2.save_tiny_random(tmp_path_factory.mktemp("blip2"))


@pytest.fixture(scope="module")
def clip_ex(clip_dir):
    return ClipExtractor(clip_dir, batch_size=2)


@pytest.fixture(scope="module")
def blip_ex(blip_dir):
    return Blip2Extractor(blip_dir, batch_size=2)


@pytest.fixture(scope="module")
def clip_bpe(shared_dir):
    path = shared_dir / "clip_bpe"
    if not (path / "bpe_simple_vocab_16e6.txt.gz").exists():
        pytest.skip(f"{path} is absent: the CLIP BPE merges file and golden ids live in ../shared/clip_bpe")
    return path


# ---------------------------------------------------------------------------------------------------------------
# Text cleaning

@pytest.mark.parametrize("raw, clean", [
    ("Tom &amp; Jerry run   around", "tom & jerry run around"),
    ("Tom &amp;amp; Jerry", "tom & jerry"),                     # unescaped twice
    ("&lt;b&gt; &quot;Hi&quot;", '<b> "hi"'),
    ("\uff34\uff4f\uff4d and \uff2a\uff45\uff52\uff52\uff59", "tom and jerry"),  # full-width letters
    ("cafÃ© latte", "café latte"),                              # mojibake repaired by ftfy
    ("  A\tman\n\nwalks.  ", "a man walks."),
    ("", ""),
])
def test_openai_clean(raw, clean):
    assert openai_clean(raw) == clean


@pytest.mark.parametrize("raw, clean", [
    ("Chef makes pizza and cuts it up.", "chef makes pizza and cuts it up"),
    ('"Hello" (World)* #tag: a;b~c!', "hello world tag a b c"),
    ("What's up, dog?", "what's up, dog?"),                      # commas, apostrophes and ? survive
    ("A  man \t walks...", "a man walks"),
    ("  Spaces around. ", "spaces around"),
    ("", ""),
])
def test_blip_caption_clean(raw, clean):
    assert blip_caption_clean(raw) == clean


def test_blip_caption_clean_keeps_50_words():
    words = [f"w{i}" for i in range(60)]
    assert blip_caption_clean(" ".join(words)) == " ".join(words[:50])
    assert blip_caption_clean(" ".join(words[:50])) == " ".join(words[:50])


# ---------------------------------------------------------------------------------------------------------------
# Golden CLIP token ids (OpenAI's own tokenizer on 416 texts)

def _golden_rows(clip_bpe):
    rows = json.loads((clip_bpe / "golden_ids.json").read_text())["rows"]
    assert len(rows) == 416
    return rows


def _mismatches(tokenize, rows):
    return [(r["text"][:60], tokenize(r["text"]), r["videolights_ids"]) for r in rows
            if tokenize(r["text"]) != r["videolights_ids"]]


def test_golden_ids_every_row(clip_bpe):
    tokenizer = tokenizer_from_bpe(clip_bpe / "bpe_simple_vocab_16e6.txt.gz")
    assert len(tokenizer) == 49408 and (tokenizer.bos_token_id, tokenizer.eos_token_id) == (49406, 49407)
    rows = _golden_rows(clip_bpe)
    assert _mismatches(lambda t: clip_token_ids(tokenizer, t), rows) == []
    # The cleaning is what makes them equal: HF's tokenizer alone differs on the HTML / full-width edge cases.
    raw = [r for r in rows if [49406] + tokenizer(r["text"], add_special_tokens=False)["input_ids"][:30] + [49407]
           != r["videolights_ids"]]
    assert raw


def test_golden_ids_through_a_saved_model(clip_bpe, tmp_path):
    directory = clip.save_tiny_random(tmp_path, vocab_path=clip_bpe / "bpe_simple_vocab_16e6.txt.gz")
    ex = ClipExtractor(directory)
    assert _mismatches(ex.token_ids, _golden_rows(clip_bpe)) == []
    # The spec's pairing example: CLIP 10 rows (SOT .. "." EOT) for this query.
    assert ex.text_features("Chef makes pizza and cuts it up.")["last_hidden_state"].shape == (10, 32)


def test_tokenizer_from_bpe_refuses_other_files(tmp_path):
    with pytest.raises(ModelError, match="missing.gz"):
        tokenizer_from_bpe(tmp_path / "missing.gz")
    import gzip
    bad = tmp_path / "bad.txt.gz"
    with gzip.open(bad, "wt") as f:
        f.write("#version\na b\n")
    with pytest.raises(ModelError, match="not OpenAI's CLIP BPE"):
        tokenizer_from_bpe(bad)


# ---------------------------------------------------------------------------------------------------------------
# CLIP on tiny random weights

def test_pixel_normalisation():
    frames = np.full((1, 4, 4, 3), 200, np.uint8)
    x = pixel_values(frames, "cpu", torch.float32, eps=1e-8)
    assert x.shape == (1, 3, 4, 4) and x.dtype == torch.float32
    for c in range(3):
        expected = (200 / 255 - clip.CLIP_MEAN[c]) / (clip.CLIP_STD[c] + 1e-8)
        assert torch.allclose(x[0, c], torch.full((4, 4), expected), atol=1e-6)


def test_clip_image_features(clip_ex):
    frames = _frames(3)
    feats = clip_ex.image_features(frames)                           # batches of 2 and 1
    assert feats.shape == (3, clip_ex.image_dim) == (3, 16) and feats.dtype == np.float32
    with torch.no_grad():
        ref = clip_ex.model.get_image_features(pixel_values=pixel_values(frames, "cpu", torch.float32, 1e-8))
    ref = getattr(ref, "pooler_output", ref)                         # transformers 5: an output object
    np.testing.assert_allclose(feats, ref.numpy(), atol=1e-5)
    assert not np.allclose(np.linalg.norm(feats, axis=1), 1.0)       # projected, not normalised
    np.testing.assert_allclose(clip_ex.image_features(frames[2:]), feats[2:], atol=1e-5)   # batch independent
    assert clip_ex.image_features(np.zeros((0, 224, 224, 3), np.uint8)).shape == (0, 16)


@pytest.mark.parametrize("bad", [np.zeros((2, 224, 224, 3), np.float32), np.zeros((2, 112, 112, 3), np.uint8),
                                 np.zeros((224, 224, 3), np.uint8)])
def test_clip_image_features_refuse_bad_frames(clip_ex, bad):
    with pytest.raises(ValueError, match="uint8"):
        clip_ex.image_features(bad)


def test_clip_text_features(clip_ex):
    tok = clip_ex.tokenizer
    ids = clip_ex.token_ids("A man cooks food")
    assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id
    assert tok.convert_ids_to_tokens(ids[1:-1]) == ["a</w>", "man</w>", "cooks</w>", "food</w>"]
    out = clip_ex.text_features("A man cooks food")
    assert set(out) == {"last_hidden_state", "pooler_output"}
    assert out["last_hidden_state"].shape == (6, clip_ex.text_dim) == (6, 32)
    assert out["pooler_output"].shape == (clip_ex.image_dim,)
    assert out["last_hidden_state"].dtype == out["pooler_output"].dtype == np.float32
    with torch.no_grad():
        input_ids = torch.tensor([ids])
        ref = clip_ex.model.get_text_features(input_ids=input_ids, attention_mask=torch.ones_like(input_ids))
        eot_row = clip_ex.model.text_projection(torch.from_numpy(out["last_hidden_state"][-1]))
    np.testing.assert_allclose(out["last_hidden_state"], ref.last_hidden_state[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(out["pooler_output"], ref.pooler_output[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(out["pooler_output"], eot_row.numpy(), atol=1e-5)   # pooled at EOT


def test_clip_text_cap_at_32_rows(clip_ex):
    query = "Zebra xylophone quietly juggles vibrant kumquats " * 4          # far more than 30 BPE tokens
    bpe = clip_ex.tokenizer(openai_clean(query), add_special_tokens=False)["input_ids"]
    assert len(bpe) > 30
    ids = clip_ex.token_ids(query)
    assert ids == [clip_ex.tokenizer.bos_token_id] + bpe[:30] + [clip_ex.tokenizer.eos_token_id]
    out = clip_ex.text_features(query)
    assert out["last_hidden_state"].shape == (32, 32)
    # Empty query: SOT and EOT only.
    assert clip_ex.text_features("")["last_hidden_state"].shape == (2, 32)


# ---------------------------------------------------------------------------------------------------------------
# BLIP-2 on tiny random weights

def test_blip2_image_features(blip_ex):
    frames = _frames(3, seed=1)
    feats = blip_ex.image_features(frames)
    assert feats.shape == (3, blip_ex.image_dim) == (3, 32) and feats.dtype == np.float32
    ids = blip_ex.token_ids("a dog")
    with torch.no_grad():
        out = blip_ex.model(pixel_values=pixel_values(frames, "cpu", torch.float32, 0.0),
                            input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long))
        projected = torch.nn.functional.normalize(blip_ex.model.vision_projection(torch.from_numpy(feats)), dim=-1)
    # The model's own image embeds (per query token, projected and normalised): query token 0 is our row.
    np.testing.assert_allclose(out.image_embeds[:, 0].numpy(), projected.numpy(), atol=1e-5)
    np.testing.assert_allclose(blip_ex.image_features(frames[1:]), feats[1:], atol=1e-5)
    assert not np.allclose(feats[0], feats[1])


def test_blip2_text_features(blip_ex):
    query = "Chef makes pizza and cuts it up."
    ids = blip_ex.token_ids(query)
    assert blip_ex.tokenizer.convert_ids_to_tokens(ids) == \
        ["[CLS]", "chef", "makes", "pizza", "and", "cuts", "it", "up", "[SEP]"]      # the spec's 9 rows
    out = blip_ex.text_features(query)
    assert out["last_hidden_state"].shape == (9, blip_ex.text_dim) == (9, 32)
    assert out["last_hidden_state"].dtype == out["pooler_output"].dtype == np.float32
    np.testing.assert_array_equal(out["pooler_output"], out["last_hidden_state"][0])
    with torch.no_grad():
        ref = blip_ex.model(pixel_values=pixel_values(_frames(1), "cpu", torch.float32, 0.0),
                            input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long))
        projected = torch.nn.functional.normalize(blip_ex.model.text_projection(torch.from_numpy(out["pooler_output"])),
                                                  dim=-1)
    np.testing.assert_allclose(out["last_hidden_state"], ref.text_model_output.last_hidden_state[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(ref.text_embeds[0].numpy(), projected.numpy(), atol=1e-5)


def test_blip2_text_is_not_truncated(blip_ex):
    query = " ".join(["man"] * 45 + ["dog"] * 10)                     # 55 words: cleaning keeps 50, no truncation
    ids = blip_ex.token_ids(query)
    assert len(ids) == 52 and blip_ex.tokenizer.convert_ids_to_tokens(ids[-2:]) == ["dog", "[SEP]"]
    assert blip_ex.text_features(query)["last_hidden_state"].shape == (52, 32)
    assert blip_ex.tokenizer.convert_ids_to_tokens(blip_ex.token_ids("")) == ["[CLS]", "[SEP]"]


def test_blip2_half_precision_vision(blip_dir):
    """dtype=float16 runs the ViT in half precision and keeps the Q-Former and the query tokens in float32."""
    ex = Blip2Extractor(blip_dir, dtype=torch.float16)
    assert ex.model.vision_model.embeddings.patch_embedding.weight.dtype == torch.float16
    assert ex.model.query_tokens.dtype == ex.model.qformer.layernorm.weight.dtype == torch.float32
    frames = _frames(2)
    half, full = ex.image_features(frames), Blip2Extractor(blip_dir).image_features(frames)
    assert half.dtype == np.float32
    cos = (half * full).sum(1) / np.linalg.norm(half, axis=1) / np.linalg.norm(full, axis=1)
    assert cos.min() > 0.999


# ---------------------------------------------------------------------------------------------------------------
# Loading: hub ids from the local cache only, local directories, clear errors

def test_missing_hub_model_says_what_to_download():
    with pytest.raises(ModelError) as e:
        ClipExtractor("videolights-test/no-such-model")
    assert isinstance(e.value, UserError)
    message = str(e.value)
    assert message.startswith("videolights-test/no-such-model: not in the local Hugging Face cache")
    assert "hf download videolights-test/no-such-model" in message and "local directory" in message
    with pytest.raises(ModelError, match="hf download videolights-test/absent"):
        Blip2Extractor("videolights-test/absent")


def test_missing_directory(tmp_path):
    with pytest.raises(ModelError, match="not a directory"):
        ClipExtractor(tmp_path / "absent")
    with pytest.raises(ModelError, match="no usable config.json"):
        Blip2Extractor(tmp_path)


def test_wrong_model_type(clip_dir, blip_dir):
    with pytest.raises(ModelError, match="'clip' model, expected 'blip-2'"):
        Blip2Extractor(clip_dir)
    with pytest.raises(ModelError, match="'blip-2' model, expected 'clip'"):
        ClipExtractor(blip_dir)


@pytest.mark.parametrize("which", ["clip", "blip2"])
def test_incomplete_directories(which, clip_dir, blip_dir, tmp_path):
    source, extractor = (clip_dir, ClipExtractor) if which == "clip" else (blip_dir, Blip2Extractor)
    no_tokenizer = tmp_path / "no_tokenizer"
    shutil.copytree(source, no_tokenizer)
    for name in os.listdir(no_tokenizer):
        if name.startswith("tokenizer") or name.startswith("vocab"):
            os.remove(no_tokenizer / name)
    with pytest.raises(ModelError, match="tokenizer"):
        extractor(no_tokenizer)
    no_weights = tmp_path / "no_weights"
    shutil.copytree(source, no_weights)
    os.remove(no_weights / "model.safetensors")
    with pytest.raises(ModelError, match="cannot load the weights"):
        extractor(no_weights)

    from safetensors.torch import load_file, save_file
    partial = tmp_path / "partial"
    shutil.copytree(source, partial)
    tensors = load_file(partial / "model.safetensors")
    dropped = sorted(tensors)[0]
    del tensors[dropped]
    save_file(tensors, partial / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ModelError, match=f"lack 1 tensors \\({dropped}\\)"):
        extractor(partial)


def test_a_hub_id_loads_the_cached_snapshot_it_checked(clip_dir, tmp_path, monkeypatch):
    """A hub id resolves to its snapshot in the local cache (nothing downloads), whose files are checked and then
    loaded: the same features as the folder itself."""
    repo = tmp_path / "hub" / "models--someone--tiny-clip"
    snap = repo / "snapshots" / ("c" * 40)
    shutil.copytree(clip_dir, snap)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("c" * 40)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    assert clip.cached_snapshot("someone/tiny-clip") == snap
    assert clip.cached_snapshot("someone/not-cached") is None
    by_id, by_dir = ClipExtractor("someone/tiny-clip"), ClipExtractor(str(clip_dir))
    np.testing.assert_array_equal(by_id.image_features(_frames(2)), by_dir.image_features(_frames(2)))

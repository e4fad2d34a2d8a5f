"""The data pipeline reproduces the reference fixture batch (../shared/ref_fixture/batch1_inputs.pt) exactly."""
import random

import pytest
import torch

from video_lights.config import parse_args
from video_lights.data import build_dataset, prepare_batch_inputs, start_end_collate


@pytest.fixture(scope="module")
def fixture_batch(ref_fixture):
    src = ref_fixture / "synthetic_source"
    opt = parse_args(["--preset", "qvhl", "--feat_root", str(src / "features"), "--device", "cpu",
                      "--train_path", str(src / "annotations" / "fixture_release.jsonl")])
    ref = torch.load(ref_fixture / "batch1_inputs.pt", weights_only=True)
    return opt, ref


@pytest.mark.parametrize("store", ["npz", "cache"])
def test_fixture_batch_exact(fixture_batch, store):
    opt, ref = fixture_batch
    opt.feat_cache = store == "cache"
    ds = build_dataset(opt, opt.train_path)
    for _ in range(2 if store == "cache" else 1):  # the second pass reads the cache
        random.seed(ref["python_random_seed_before_getitem"])
        metas, batched = start_end_collate([ds[0], ds[1]])
    model_inputs, targets = prepare_batch_inputs(batched, torch.device("cpu"))

    assert metas == ref["meta"]
    assert list(model_inputs) == list(ref["model_inputs"])
    for k, v in ref["model_inputs"].items():
        assert model_inputs[k].dtype == v.dtype and torch.equal(model_inputs[k], v), k
    assert list(targets) == list(ref["targets"])
    for mine, theirs in zip(targets["span_labels"], ref["targets"]["span_labels"]):
        assert torch.equal(mine["spans"], theirs["spans"])
    for k in ("saliency_pos_index", "saliency_all_labels"):
        assert targets[k].dtype == ref["targets"][k].dtype and torch.equal(targets[k], ref["targets"][k]), k
    for k in ("saliency_pos_labels", "saliency_neg_labels"):
        assert targets[k].dtype == torch.int64 and targets[k].shape == ref["targets"][k].shape
        assert torch.equal(targets[k][:, 0], ref["targets"][k][:, 0]), f"hard {k}"
    # easy indices are random: a relevant clip for pos, a non-relevant one for neg (here also equal to the
    # reference's, since the same Python RNG draws are made in the same order)
    for b, meta in enumerate(metas):
        assert int(targets["saliency_pos_labels"][b, 1]) in meta["relevant_clip_ids"]
        assert int(targets["saliency_neg_labels"][b, 1]) not in meta["relevant_clip_ids"]
    assert torch.equal(targets["saliency_pos_labels"], ref["targets"]["saliency_pos_labels"])
    assert torch.equal(targets["saliency_neg_labels"], ref["targets"]["saliency_neg_labels"])


def test_annotations_not_mutated(fixture_batch, tmp_path):
    """More windows than max_windows: a random subset is used, the cached annotation keeps its order."""
    opt, _ = fixture_batch
    import json
    rows = [json.loads(line) for line in open(opt.train_path)]
    rows[0]["relevant_windows"] = [[0, 2], [4, 6], [8, 10], [12, 14], [16, 18], [20, 22], [24, 26]]
    path = tmp_path / "many_windows.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    ds = build_dataset(opt, str(path))
    before = [list(w) for w in ds.data[0]["relevant_windows"]]
    for seed in range(5):
        random.seed(seed)
        spans = ds[0]["model_inputs"]["span_labels"]
        assert spans.shape == (5, 2)
    assert ds.data[0]["relevant_windows"] == before


def test_no_labels(fixture_batch, tmp_path):
    """A file without label fields (as QVHighlights test) gives model inputs only."""
    import json
    opt, ref = fixture_batch
    keep = ("qid", "query", "vid", "duration")
    rows = [{k: v for k, v in json.loads(line).items() if k in keep} for line in open(opt.train_path)]
    path = tmp_path / "test_release.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    ds = build_dataset(opt, str(path))
    assert not ds.load_labels
    metas, batched = start_end_collate([ds[0], ds[1]])
    model_inputs, targets = prepare_batch_inputs(batched, "cpu")
    assert targets is None
    assert torch.equal(model_inputs["src_vid"], ref["model_inputs"]["src_vid"])


def test_input_contract_outside_the_dataset(fixture_batch):
    """Per-type features read straight from the stores -> data.inputs -> the fixture's model inputs, bit for bit:
    the path a predictor takes for freshly extracted features."""
    from video_lights.data import batch_inputs, query_input, video_input
    from video_lights.data.features import open_store, read_text, read_video
    opt, ref = fixture_batch
    v_stores = [open_store(d) for d in opt.v_feat_dirs]
    t_stores = [open_store(d) for d in opt.t_feat_dirs]
    videos = [video_input([read_video(s, m["vid"]) for s in v_stores], opt.max_v_l) for m in ref["meta"]]
    queries = [query_input([read_text(s, f"qid{m['qid']}", "last_hidden_state") for s in t_stores], opt.max_q_l)
               for m in ref["meta"]]
    inputs = batch_inputs(videos, queries)
    assert list(inputs) == list(ref["model_inputs"])
    for k, v in ref["model_inputs"].items():
        assert inputs[k].dtype == v.dtype and torch.equal(inputs[k], v), k

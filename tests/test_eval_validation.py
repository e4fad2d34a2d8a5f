"""Strict by default (docs/fidelity.md, 'Evaluation'): every malformed case gets one message, exit code 2 and no
output file; scoreable oddities get a warning; --compat scores what the official evaluator scores."""
import copy
import json
import math

import pytest

from standalone_eval import oracle
from standalone_eval.eval import eval_submission, main
from standalone_eval.submission import SubmissionError, SubmissionWarning


def make_gt(n: int = 6) -> list:
    """QVHighlights-like GT rows: 150-s videos (75 clips), 1-2 windows, rater scores on their clips."""
    rows = []
    for i in range(n):
        windows = [[10 * i, 10 * i + 8]] + ([[100, 140]] if i % 2 else [])
        clips = [c for s, e in windows for c in range(s // 2, e // 2)]
        rows.append({"qid": 100 + i, "query": f"q{i}", "duration": 150, "vid": f"v{i}",
                     "relevant_windows": windows, "relevant_clip_ids": clips,
                     "saliency_scores": [[(c + k) % 5 for k in range(3)] for c in clips]})
    return rows


def make_submission(gt: list) -> list:
    """A well-formed submission: 3 windows by descending score, one saliency score per clip."""
    return [{"qid": r["qid"], "query": r["query"], "vid": r["vid"],
             "pred_relevant_windows": [[r["relevant_windows"][0][0], r["relevant_windows"][0][1] + 2, 0.9],
                                       [0.0, 30.0, 0.5], [50.0, 60.0, 0.1]],
             "pred_saliency_scores": [math.sin(c + r["qid"]) for c in range(75)]} for r in gt]


def edit(**changes):
    """A mutation of the submission rows: changes maps a row index to a function(row) -> row or None."""
    def apply(rows):
        rows = copy.deepcopy(rows)
        for i, f in changes.items():
            rows[int(i[1:])] = f(rows[int(i[1:])])
        return [r for r in rows if r is not None]
    return apply


def set_key(key, value):
    return lambda row: {**row, key: value}


def drop_key(key):
    return lambda row: {k: v for k, v in row.items() if k != key}


# (case, mutation of the rows or "raw" text lines, message fragments)
MALFORMED = [
    ("missing qid", edit(r2=lambda r: None), ["misses 1 of the 6 ground-truth qids", "102"]),
    ("extra qid", lambda rows: rows + [{**rows[0], "qid": 999}], ["not in the ground truth", "line 7 (qid 999)"]),
    ("duplicate qid", lambda rows: rows + [rows[1]], ["appear on several lines", "qid 101 on lines 2, 7"]),
    ("qid type", edit(r3=set_key("qid", "103")),
     ["qid type differs from the ground truth (int)", "line 4 (qid '103'): a str"]),
    ("qid absent", edit(r0=drop_key("qid")), ["no 'qid' key", "line 1"]),
    ("window of 2 numbers", edit(r1=set_key("pred_relevant_windows", [[1.0, 5.0, 0.9], [1.0, 2.0]])),
     ["not 3 finite numbers", "line 2 (qid 101)", "window 1 = [1.0, 2.0]"]),
    ("window with a string", edit(r4=set_key("pred_relevant_windows", [[1.0, "5", 0.9]])),
     ["not 3 finite numbers", "line 5 (qid 104)"]),
    ("window with NaN", edit(r0=set_key("pred_relevant_windows", [[1.0, math.nan, 0.9]])),
     ["not 3 finite numbers", "line 1 (qid 100)"]),
    ("window of 4 numbers", edit(r0=set_key("pred_relevant_windows", [[1.0, 4.0, 0.9, 7.0]])),
     ["not 3 finite numbers", "line 1 (qid 100)"]),
    ("start > end", edit(r5=set_key("pred_relevant_windows", [[1.0, 5.0, 0.9], [20.0, 10.0, 0.5]])),
     ["start > end", "line 6 (qid 105): [20.0, 10.0]"]),
    ("empty window list", edit(r2=set_key("pred_relevant_windows", [])),
     ["is empty or not a list", "line 3 (qid 102)"]),
    ("saliency too long", edit(r1=lambda r: {**r, "pred_saliency_scores": r["pred_saliency_scores"] + [0.0]}),
     ["saliency length differs from the number of clips", "line 2 (qid 101): 76 scores for 75 clips"]),
    ("saliency 2 short", edit(r3=lambda r: {**r, "pred_saliency_scores": r["pred_saliency_scores"][:73]}),
     ["saliency length differs", "line 4 (qid 103): 73 scores for 75 clips"]),
    ("empty saliency", edit(r0=set_key("pred_saliency_scores", [])), ["'pred_saliency_scores' is empty", "line 1"]),
    ("saliency with a bool", edit(r0=lambda r: {**r, "pred_saliency_scores": [True] + r["pred_saliency_scores"][1:]}),
     ["not a list of finite numbers", "line 1"]),
    ("rows differ in predictions", edit(r4=drop_key("pred_saliency_scores")),
     ["rows differ in which predictions they carry", "line 5 (qid 104): carries pred_relevant_windows"]),
    ("later row carries more", lambda rows: [drop_key("pred_saliency_scores")(rows[0])] + rows[1:],
     ["rows differ in which predictions they carry", "line 2 (qid 101)"]),
    ("no predictions", lambda rows: [{"qid": r["qid"]} for r in rows], ["carries neither"]),
]


@pytest.mark.parametrize("case,mutate,fragments", MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_submission_raises(case, mutate, fragments):
    gt = make_gt()
    with pytest.raises(SubmissionError) as err:
        eval_submission(mutate(make_submission(gt)), gt, verbose=False)
    for fragment in fragments:
        assert fragment in str(err.value)


def write_jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


def run_cli(tmp_path, capsys, sub_path, gt_path, *extra):
    out = tmp_path / "metrics.json"
    code = main(["--submission_path", str(sub_path), "--gt_path", str(gt_path), "--save_path", str(out),
                 "--not_verbose", *extra])
    return code, capsys.readouterr(), out


@pytest.mark.parametrize("case,mutate,fragments", MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_submission_cli_exits_2_without_output(case, mutate, fragments, tmp_path, capsys):
    gt = make_gt()
    gt_path = write_jsonl(tmp_path / "gt.jsonl", gt)
    sub_path = write_jsonl(tmp_path / "sub.jsonl", mutate(make_submission(gt)))
    code, captured, out = run_cli(tmp_path, capsys, sub_path, gt_path)
    assert code == 2
    errors = [line for line in captured.err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and all(f in errors[0] for f in fragments)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gt.jsonl", "sub.jsonl"]  # no output, no temp file


def test_non_json_line_cli(tmp_path, capsys):
    gt = make_gt()
    gt_path = write_jsonl(tmp_path / "gt.jsonl", gt)
    lines = [json.dumps(r) for r in make_submission(gt)]
    lines[3] = lines[3][:40]
    sub_path = tmp_path / "sub.jsonl"
    sub_path.write_text("\n".join(lines))
    code, captured, out = run_cli(tmp_path, capsys, sub_path, gt_path)
    assert code == 2 and not out.exists()
    assert "line 4 is not valid JSON" in captured.err and captured.err.count("error: ") == 1


def test_saliency_on_dataset_without_saliency_labels(tmp_path, capsys):
    gt = [{k: v for k, v in r.items() if k not in ("relevant_clip_ids", "saliency_scores")} for r in make_gt()]
    sub = make_submission(gt)
    with pytest.raises(SubmissionError, match="ground truth has no saliency labels"):
        eval_submission(sub, gt, verbose=False)
    code, captured, out = run_cli(tmp_path, capsys, write_jsonl(tmp_path / "s.jsonl", sub),
                                  write_jsonl(tmp_path / "g.jsonl", gt))
    assert code == 2 and "no saliency labels" in captured.err and not out.exists()
    # without the saliency key it scores (Charades-style)
    eval_submission([drop_key("pred_saliency_scores")(r) for r in sub], gt, verbose=False)


def test_unreadable_file_exits_2(tmp_path, capsys):
    code, captured, out = run_cli(tmp_path, capsys, tmp_path / "absent.jsonl", tmp_path / "absent_gt.jsonl")
    assert code == 2 and "error: " in captured.err and not out.exists()


def test_warnings_outside_duration_and_more_than_10_windows():
    gt = make_gt()
    sub = make_submission(gt)
    sub[1]["pred_relevant_windows"][1] = [-4.0, 160.0, 0.5]
    sub[2]["pred_relevant_windows"] = sub[2]["pred_relevant_windows"] + [[0.0, 2.0, 0.01]] * 9
    with pytest.warns(SubmissionWarning) as caught:
        result = eval_submission(sub, gt, verbose=False)
    messages = " | ".join(str(w.message) for w in caught)
    assert "outside [0, duration]" in messages and "line 2 (qid 101)" in messages
    assert "more than 10 windows" in messages and "line 3 (qid 102): 12" in messages
    assert result == oracle.eval_submission(sub, gt)  # scored as the official evaluator does


def test_one_clip_short_saliency_is_zero_padded_with_a_warning():
    gt = make_gt()
    sub = make_submission(gt)
    sub[0]["pred_saliency_scores"] = sub[0]["pred_saliency_scores"][:74]
    with pytest.warns(SubmissionWarning, match="1 clip"):
        short = eval_submission(sub, gt, verbose=False)
    sub[0]["pred_saliency_scores"] = sub[0]["pred_saliency_scores"] + [0.0]
    assert short == eval_submission(sub, gt, verbose=False)


def test_compat_scores_what_the_official_evaluator_scores():
    gt = make_gt()
    sub = make_submission(gt)
    sub[0]["pred_relevant_windows"].insert(0, [18.0, 10.0, 0.95])  # inverted, not NaN
    sub[1]["pred_relevant_windows"].insert(0, [140.0, 100.0, 0.95])  # an exactly swapped GT window: NaN IoU
    sub[2]["pred_saliency_scores"] = sub[2]["pred_saliency_scores"][:40]  # short: zero-padded
    sub[3]["pred_saliency_scores"] = sub[3]["pred_saliency_scores"] + [9.0]  # long: truncated, Hit1 misses
    sub.append({**sub[4], "pred_relevant_windows": [[40.0, 48.0, 0.7]]})  # duplicate: pooled for mAP
    with pytest.raises(SubmissionError):
        eval_submission(sub, gt, verbose=False)
    with pytest.warns(SubmissionWarning):
        result = eval_submission(sub, gt, verbose=False, compat=True)
    assert result == oracle.eval_submission(sub, gt)


def test_compat_dispatches_on_the_first_row():
    gt = make_gt()
    sub = make_submission(gt)
    sub[0] = drop_key("pred_saliency_scores")(sub[0])  # later rows' saliency is ignored, as officially
    result = eval_submission(sub, gt, verbose=False, compat=True)
    assert "HL-min-Fair" not in result and "full" in result
    sub[1] = drop_key("pred_relevant_windows")(sub[1])  # the official evaluator crashes (KeyError)
    with pytest.raises(SubmissionError, match="line 2"):
        eval_submission(sub, gt, verbose=False, compat=True)


def test_match_number_false_scores_the_shared_qids():
    gt = make_gt()
    sub = make_submission(gt)[:4] + [{**make_submission(gt)[0], "qid": 999}]
    assert eval_submission(sub, gt, verbose=False, match_number=False) == \
        eval_submission(sub[:4], gt[:4], verbose=False)


def test_in_memory_rows_may_hold_numpy_values():
    """The training loop may hand over numpy arrays / float16 scalars instead of JSON lists."""
    import numpy as np
    gt = make_gt()
    sub = make_submission(gt)
    as_json = [{**r, "pred_saliency_scores": np.float16(r["pred_saliency_scores"]).tolist()} for r in sub]
    as_numpy = [{**r, "pred_relevant_windows": np.array(r["pred_relevant_windows"]),
                 "pred_saliency_scores": list(np.float16(r["pred_saliency_scores"]))} for r in sub]
    assert eval_submission(as_numpy, gt, verbose=False) == eval_submission(as_json, gt, verbose=False)

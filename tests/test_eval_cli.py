"""End-to-end tests of the command line: the original interface, the Codalab zip mode, and torch-free runs."""
import gzip
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from standalone_eval.eval import main

REPO = Path(__file__).resolve().parents[1]
VAL_REF = "reference_submissions/qvh_val_cgdetr_best"
TEST_REF = "reference_submissions/qvh_test_cgdetr_submission"


def run_script(*args, block_torch=False):
    """python standalone_eval/eval.py ARGS from the repository root, optionally with torch unimportable."""
    if block_torch:
        code = ("import runpy, sys; sys.modules['torch'] = None; sys.argv = ['eval.py'] + sys.argv[1:]; "
                "runpy.run_path('standalone_eval/eval.py', run_name='__main__')")
        cmd = [sys.executable, "-c", code, *args]
    else:
        cmd = [sys.executable, "standalone_eval/eval.py", *args]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)


def test_original_command_line_reproduces_metrics_json(shared_data, tmp_path):
    out = tmp_path / "metrics.json"
    proc = run_script("--submission_path", str(shared_data / VAL_REF / "preds.jsonl.gz"),
                      "--gt_path", str(shared_data / "qvhighlights" / "highlight_val_release.jsonl"),
                      "--save_path", str(out), "--not_verbose", block_torch=True)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == (shared_data / VAL_REF / "metrics.json").read_text().strip()
    assert "1 clip(s) short" in proc.stderr  # the 13 published one-clip-short saliency lists are reported


def test_malformed_submission_script_exits_2(shared_data, tmp_path):
    rows = [json.loads(line) for line in gzip.open(shared_data / VAL_REF / "preds.jsonl.gz", "rt")]
    rows[7]["pred_relevant_windows"][0] = [30.0, 10.0, 0.9]
    sub = tmp_path / "sub.jsonl"
    sub.write_text("\n".join(json.dumps(r) for r in rows))
    out = tmp_path / "metrics.json"
    proc = run_script("--submission_path", str(sub), "--gt_path",
                      str(shared_data / "qvhighlights" / "highlight_val_release.jsonl"), "--save_path", str(out))
    assert proc.returncode == 2 and not out.exists() and proc.stdout == ""
    assert [line for line in proc.stderr.splitlines() if line.startswith("error")] == [
        f"error: a window has start > end on 1 line(s): line 8 (qid {rows[7]['qid']}): [30.0, 10.0]"]


def test_verbose_prints_the_metrics(shared_data, tmp_path, capsys):
    code = main(["--submission_path", str(shared_data / VAL_REF / "preds.jsonl.gz"),
                 "--gt_path", str(shared_data / "qvhighlights" / "highlight_val_release.jsonl")])
    printed = capsys.readouterr().out
    assert code == 0 and '"MR-full-mAP": 44.93' in printed and "full: [0, 150], 1550/1550" in printed


def make_zip(path, members: dict):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@pytest.fixture(scope="module")
def member_bytes(shared_data):
    return {"hl_val_submission.jsonl": gzip.open(shared_data / VAL_REF / "preds.jsonl.gz").read(),
            "hl_test_submission.jsonl": gzip.open(shared_data / TEST_REF / "preds.jsonl.gz").read()}


def test_zip_scores_val_and_test(shared_data, member_bytes, tmp_path, capsys):
    sub = make_zip(tmp_path / "submission.zip", member_bytes)
    out = tmp_path / "zip_metrics.json"
    code = main(["--submission_zip", str(sub), "--gt_dir", str(shared_data / "qvhighlights"), "--save_path", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    saved = json.loads(out.read_text())
    assert saved == {"val": json.loads((shared_data / VAL_REF / "metrics.json").read_text()),
                     "test": json.loads((shared_data / TEST_REF / "metrics.json").read_text())}
    header, val, test = printed.strip().splitlines()
    assert header.split() == ["split", "R1@0.5", "R1@0.7", "mAP@0.5", "mAP@0.75", "mAP", "avg", "HD", "mAP", "HIT@1"]
    brief = saved["test"]["brief"]
    # R1@0.5, R1@0.7, mAP, HD mAP and HIT@1 are the CG-DETR paper's Codalab numbers
    assert test.split() == ["test", "65.43", "48.38", f"{brief['MR-full-mAP@0.5']:.2f}",
                            f"{brief['MR-full-mAP@0.75']:.2f}", "42.86", "40.33", "66.21"]
    assert val.split()[:2] == ["val", "67.35"]
    # explicit GT paths instead of --gt_dir
    qvh = shared_data / "qvhighlights"
    code = main(["--submission_zip", str(sub), "--val_gt_path", str(qvh / "highlight_val_release.jsonl"),
                 "--test_gt_path", str(qvh / "highlight_test_with_gt.jsonl"), "--not_verbose"])
    assert code == 0 and capsys.readouterr().out == printed


@pytest.mark.parametrize("case", ["missing member", "nested", "not a zip", "bad member", "no gt"])
def test_zip_errors_exit_2(case, shared_data, member_bytes, tmp_path, capsys):
    members = dict(member_bytes)
    expected = {"missing member": "lacks hl_test_submission.jsonl",
                "nested": "found sub/hl_val_submission.jsonl, sub/hl_test_submission.jsonl: the files must sit "
                          "at the zip root",
                "not a zip": "is not a valid zip file",
                "bad member": "hl_test_submission.jsonl: line 2 is not valid JSON",
                "no gt": "needs --gt_dir, or both --val_gt_path and --test_gt_path"}[case]
    if case == "missing member":
        del members["hl_test_submission.jsonl"]
    elif case == "nested":
        members = {f"sub/{k}": v for k, v in members.items()}
    elif case == "bad member":
        lines = members["hl_test_submission.jsonl"].split(b"\n")
        members["hl_test_submission.jsonl"] = b"\n".join([lines[0], b"{oops"] + lines[2:])
    sub = tmp_path / "submission.zip"
    if case == "not a zip":
        sub.write_bytes(b"not a zip")
    else:
        make_zip(sub, members)
    out = tmp_path / "out.json"
    gt_args = [] if case == "no gt" else ["--gt_dir", str(shared_data / "qvhighlights")]
    code = main(["--submission_zip", str(sub), *gt_args, "--save_path", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and not out.exists()
    assert err.count("error: ") == 1 and expected in err


def test_clip_length_sets_the_saliency_clips(tmp_path, capsys):
    """A dataset of one's own with 1-s clips and odd durations: ceil(duration / clip_length) clips, partial one
    included; QVHighlights' 2-s count is the default."""
    gt = [{"qid": 1, "query": "q", "duration": 5.0, "vid": "v", "relevant_windows": [[1, 3]],
           "relevant_clip_ids": [1, 2], "saliency_scores": [[4, 4, 4], [2, 2, 2]]}]
    sub = [{"qid": 1, "pred_relevant_windows": [[1, 3, 0.9]], "pred_saliency_scores": [0.1, 0.9, 0.5, 0.2, 0.3]}]
    (tmp_path / "gt.jsonl").write_text(json.dumps(gt[0]))
    (tmp_path / "sub.jsonl").write_text(json.dumps(sub[0]))
    args = ["--submission_path", str(tmp_path / "sub.jsonl"), "--gt_path", str(tmp_path / "gt.jsonl"),
            "--save_path", str(tmp_path / "m.json"), "--not_verbose"]
    assert main(args + ["--clip_length", "1"]) == 0
    brief = json.loads((tmp_path / "m.json").read_text())["brief"]
    assert brief["HL-min-VeryGood-Hit1"] == 100.0 and brief["MR-full-R1@0.7"] == 100.0
    assert main(args) == 2 and "5 scores for 3 clips" in capsys.readouterr().err  # ceil(5 / 2) = 3

"""Converters to the QVHighlights format (python -m video_lights.convert): good and bad input for each format,
the derived saliency rule (it gives QVHighlights' own clip ids from its windows), durations probed from videos,
TACoS' raw JSON back to the authors' data/tacos files, and every bad row named with nothing written."""
import json
from pathlib import Path

import pytest

from video_lights.convert import main as convert_main
from video_lights.data import StartEndDataset
from video_lights.data.converters import derived_saliency


def run(capsys, *argv):
    code = convert_main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def read_rows(path):
    return [json.loads(x) for x in Path(path).read_text().splitlines()]


def loads_for_training(path, kind="qvhighlights"):
    """The rows pass the loader's validation for the label kind (no feature files needed)."""
    return StartEndDataset({"qvhighlights": "qvhighlights", "window": "charades_sta"}[kind], str(path), [], [],
                           check_files=False, use_video=False).data


def test_derived_saliency_gives_qvhighlights_own_clip_ids(shared_data):
    rows = [json.loads(x) for x in open(shared_data / "qvhighlights" / "highlight_val_release.jsonl")]
    for r in rows:
        ids, scores = derived_saliency(r["relevant_windows"], 2)
        assert ids == r["relevant_clip_ids"], r["qid"]
        assert scores == [[4, 4, 4]] * len(ids)
    assert derived_saliency([[0.3, 0.9]], 2) == ([0], [[4, 4, 4]])  # shorter than a clip: the midpoint's clip
    assert derived_saliency([[2.5, 6.2]], 1)[0] == [2, 3, 4, 5]  # centres 2.5 .. 5.5 (6.5 is past the end)


# ---- csv / tsv ----------------------------------------------------------------------------------------------

def test_csv_good(tmp_path, capsys):
    (tmp_path / "q.csv").write_text(
        "video,query,start,end,duration\n"
        "kitchen1.mp4,a man cuts an onion,2,8.5,30\n"
        "kitchen1.mp4,a man cuts an onion,20,24,30\n"          # a second window of the same query
        "kitchen1.mp4,\"he washes the pan, then dries it\",10,14,\n"  # duration given on another line
        "\n"
        "kitchen2,the dog leaves,40,61,60\n")                     # clamped to the duration
    code, out, err = run(capsys, "csv", tmp_path / "q.csv", "--out", tmp_path / "train.jsonl")
    assert code == 0, err
    assert "wrote 3 queries of 2 videos" in out and "clamped 1 window end(s)" in out
    rows = read_rows(tmp_path / "train.jsonl")
    assert [(r["qid"], r["vid"], r["duration"], r["relevant_windows"]) for r in rows] == [
        ("kitchen1_0", "kitchen1", 30.0, [[2.0, 8.5], [20.0, 24.0]]),
        ("kitchen1_1", "kitchen1", 30.0, [[10.0, 14.0]]),
        ("kitchen2_0", "kitchen2", 60.0, [[40.0, 60.0]])]
    assert rows[1]["query"] == "he washes the pan, then dries it"
    assert rows[0]["relevant_clip_ids"] == [1, 2, 3, 10, 11] and rows[0]["saliency_derived"] is True
    assert len(loads_for_training(tmp_path / "train.jsonl")) == 3
    assert len(loads_for_training(tmp_path / "train.jsonl", "window")) == 3
    (tmp_path / "q.tsv").write_text("qid\tvideo\tquery\tstart\tend\tduration\n7\tv1\ta b\t0\t3\t9.5\n")
    code, _, err = run(capsys, "csv", tmp_path / "q.tsv", "--out", tmp_path / "t.jsonl", "--clip_length", "1")
    assert code == 0, err
    (row,) = read_rows(tmp_path / "t.jsonl")
    assert (row["qid"], row["relevant_clip_ids"]) == (7, [0, 1, 2])  # the file's own qid; 1-s clips


def test_csv_bad_rows_are_all_named_and_nothing_is_written(tmp_path, capsys):
    (tmp_path / "q.csv").write_text(
        "video,query,start,end,duration\n"
        "v1,ok,1,2,10\n"
        "v1,start is text,abc,2,10\n"
        "v1,,1,2,10\n"
        "v2,inverted,5,3,10\n"
        "v2,after the end,12,14,10\n"
        "v3,too,few\n"
        "v1,other duration,1,2,11\n"
        "v4,no duration anywhere,1,2,\n")
    out_path = tmp_path / "out.jsonl"
    code, out, err = run(capsys, "csv", tmp_path / "q.csv", "--out", out_path)
    assert code == 2 and not out_path.exists() and out == ""
    lines = err.splitlines()
    path = tmp_path / "q.csv"
    expected = [f"{path}:3: field 'start' = 'abc' is not a number", f"{path}:4: field 'query' is empty",
                f"{path}:7: 3 fields, the header has 5", f"{path}:8: field 'duration' = 11.0 differs from 10.0",
                f"{path}:9: no duration for video 'v4': give --videos DIR",
                f"{path}:5: window [5.0, 3.0] ends before it starts",
                f"{path}:6: window [12.0, 14.0] starts after the video ends (10.0 s)"]
    assert len(lines) == len(expected) + 1 and all(x.startswith("error: ") for x in lines)
    for want, got in zip(expected, lines):
        assert got.startswith("error: " + want), (want, got)
    assert lines[-1] == f"error: {path}: 7 problem(s); nothing written"
    (tmp_path / "h.csv").write_text("video,text,start,end\nv,a,1,2\n")
    code, _, err = run(capsys, "csv", tmp_path / "h.csv", "--out", out_path)
    assert code == 2 and "h.csv:1: header" in err and "missing column(s) query; unknown column(s) text" in err
    code, _, err = run(capsys, "csv", tmp_path / "nothere.csv", "--out", out_path)
    assert code == 2 and "nothere.csv: cannot read" in err and not out_path.exists()


# ---- ActivityNet Captions --------------------------------------------------------------------------------------

def test_activitynet_good_and_bad(tmp_path, capsys):
    good = {"v_QOlSCBRmfWY": {"duration": 82.73, "timestamps": [[0.83, 19.86], [17.37, 60.81], [56.26, 83.5]],
                              "sentences": ["  A young woman is seen standing.", " She dances.", "She stops. "]},
            "v_ehGHCYKzyZ8": {"duration": 61.72, "timestamps": [[0, 21.5]], "sentences": ["A man plays."]}}
    (tmp_path / "train.json").write_text(json.dumps(good))
    code, out, err = run(capsys, "activitynet", tmp_path / "train.json", "--out", tmp_path / "a.jsonl")
    assert code == 0, err
    rows = read_rows(tmp_path / "a.jsonl")
    assert [r["qid"] for r in rows] == ["v_QOlSCBRmfWY_0", "v_QOlSCBRmfWY_1", "v_QOlSCBRmfWY_2", "v_ehGHCYKzyZ8_0"]
    assert rows[0]["query"] == "A young woman is seen standing." and rows[2]["relevant_windows"] == [[56.26, 82.73]]
    assert "clamped 1 window end(s)" in out and len(loads_for_training(tmp_path / "a.jsonl")) == 4
    bad = {"v_a": {"timestamps": [[1, 2]], "sentences": ["x"]},                       # no duration
           "v_b": {"duration": 10, "timestamps": [[1, 2], [3]], "sentences": ["x", "y"]},
           "v_c": {"duration": 10, "timestamps": [[1, 2]], "sentences": ["x", "y"]},
           "v_d": {"duration": 10, "timestamps": [[4, 2]], "sentences": [""]},
           "v_e": [1, 2]}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    code, _, err = run(capsys, "activitynet", tmp_path / "bad.json", "--out", tmp_path / "b.jsonl")
    assert code == 2 and not (tmp_path / "b.jsonl").exists()
    for want in ("video 'v_a': field 'duration' = None is not a positive number",
                 "video 'v_b' sentence 1: field 'timestamps'[1] = [3] is not a [start, end] pair",
                 "video 'v_c': needs lists 'timestamps' and 'sentences' of the same length",
                 "video 'v_d' sentence 0: field 'sentences'[0] = '' is not a non-empty string",
                 "video 'v_e': expected an object, got list", "5 problem(s); nothing written"):
        assert want in err, want
    (tmp_path / "broken.json").write_text('{"v_a": {"duration": 3,\n "timestamps": [[1, 2]] "sentences": []}}')
    code, _, err = run(capsys, "activitynet", tmp_path / "broken.json", "--out", tmp_path / "b.jsonl")
    assert code == 2 and "broken.json:2: not valid JSON" in err


# ---- Charades-STA ------------------------------------------------------------------------------------------

def test_charades_bad_lines_and_missing_durations(tmp_path, capsys):
    (tmp_path / "sta.txt").write_text("AO8RW 0.0 6.9##a person is putting a book on a shelf.\n"
                                      "AO8RW 1.2##no end time.\n"
                                      "Y6R7T 3.1 x##bad end.\n"
                                      "Y6R7T 3.1 5.0 no separator\n")
    code, _, err = run(capsys, "charades", tmp_path / "sta.txt", "--out", tmp_path / "c.jsonl")
    assert code == 2 and not (tmp_path / "c.jsonl").exists()
    for want in ("sta.txt:2: expected 'VID START END##sentence'", "sta.txt:3: field 'end' = 'x' is not a number",
                 "sta.txt:4: expected 'VID START END##sentence'",
                 "sta.txt:1: no duration for video 'AO8RW': give --videos DIR", "4 problem(s)"):
        assert want in err, want


def test_charades_durations_probed_from_the_videos(tmp_path, capsys):
    pytest.importorskip("av", reason="probing durations needs the video extra (pip install -e .[video])")
    from synthetic_videos import make_video
    videos = tmp_path / "videos"
    videos.mkdir()
    make_video(str(videos / "AO8RW.mp4"), fps=30, duration=7.0, size=(64, 36), codec="libx264")
    make_video(str(videos / "Y6R7T.mkv"), fps=25, duration=5.0, size=(64, 36))
    (tmp_path / "sta.txt").write_text("AO8RW 0.0 6.9##a person is putting a book on a shelf.\n"
                                      "Y6R7T 1.5 4.0##person opens the door.\n"
                                      "AO8RW 2.0 7.5##a person sits down.\n"
                                      "MISSING 1 2##nobody.\n")
    code, _, err = run(capsys, "charades", tmp_path / "sta.txt", "--out", tmp_path / "c.jsonl", "--videos", videos,
                       "--clip_length", "1")
    assert code == 2 and "sta.txt:4: cannot probe the duration of video 'MISSING': MISSING: no video file" in err
    (tmp_path / "sta.txt").write_text("\n".join((tmp_path / "sta.txt").read_text().splitlines()[:3]))
    code, out, err = run(capsys, "charades", tmp_path / "sta.txt", "--out", tmp_path / "c.jsonl", "--videos", videos,
                         "--clip_length", "1")
    assert code == 0, err
    assert "2 durations probed" in out and "clamped 1 window end(s)" in out
    rows = read_rows(tmp_path / "c.jsonl")
    assert [r["qid"] for r in rows] == ["AO8RW_0", "Y6R7T_0", "AO8RW_1"]
    assert [r["duration"] for r in rows] == pytest.approx([7.0, 5.0, 7.0], abs=0.05)
    assert rows[2]["relevant_windows"] == [[2.0, rows[2]["duration"]]]
    assert len(loads_for_training(tmp_path / "c.jsonl", "window")) == 3


# ---- TACoS ---------------------------------------------------------------------------------------------------

def _raw_tacos(rows, fps=29.4):
    """2D-TAN's TACoS JSON for the authors' jsonl rows (frames = seconds x fps), with one empty sentence added."""
    raw = {}
    for r in rows:
        entry = raw.setdefault(r["vid"] + ".avi", {"timestamps": [], "sentences": [], "fps": fps,
                                                   "num_frames": round(r["duration"] * fps)})
        entry["timestamps"].append([round(x * fps) for x in r["relevant_windows"][0]])
        entry["sentences"].append(r["query"])
    first = next(iter(raw.values()))
    first["timestamps"].insert(1, [50, 50])  # 2D-TAN skips it, and so do the ids
    first["sentences"].insert(1, "an empty moment")
    return raw


def test_tacos_raw_json_gives_the_authors_files(shared_data, tmp_path, capsys):
    rows = [json.loads(x) for x in open(shared_data / "tacos" / "test.jsonl") if x.strip()]
    (tmp_path / "test.json").write_text(json.dumps(_raw_tacos(rows)))
    code, out, err = run(capsys, "tacos", tmp_path / "test.json", "--out", tmp_path / "test.jsonl")
    assert code == 0, err
    assert "skipped 1 sentence(s) with an empty window" in out and "wrote 4001 queries of 25 videos" in out
    ours = read_rows(tmp_path / "test.jsonl")
    keys = ("qid", "query", "duration", "vid", "relevant_windows")
    assert [{k: r[k] for k in keys} for r in ours] == [{k: r[k] for k in keys} for r in rows]
    bad = {"s1-d1.avi": {"timestamps": [[1, 5]], "sentences": ["x"], "fps": 0, "num_frames": 100},
           "s2-d2.avi": {"timestamps": [[1, 5]], "sentences": ["x"], "fps": 29.4}}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    code, _, err = run(capsys, "tacos", tmp_path / "bad.json", "--out", tmp_path / "b.jsonl")
    assert code == 2 and not (tmp_path / "b.jsonl").exists()
    assert "video 's1-d1.avi': field 'fps' = 0 is not a positive number" in err
    assert "video 's2-d2.avi': field 'num_frames' = None is not a positive number" in err

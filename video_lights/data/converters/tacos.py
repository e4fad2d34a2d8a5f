"""TACoS in the JSON of 2D-TAN / VSLNet (train.json, val.json, test.json): {"s13-d21.avi": {"timestamps":
[[start frame, end frame], ...], "sentences": [...], "fps": 29.4, "num_frames": n}}.

As 2D-TAN reads it: duration = num_frames / fps, windows = frames / fps, and a sentence whose window is empty
(start frame >= end frame) is skipped (noted). vid = the key without its extension ("s13-d21"); query ids
"{vid}_{k}" count the kept sentences, and sentences stay as written (blanks included): this gives the authors'
data/tacos/*.jsonl exactly (tested)."""
from video_lights.data.converters.jsonfile import read_videos_json, sentence_pairs
from video_lights.data.converters.records import Query, number
from video_lights.data.converters.table import video_name


def read_tacos(path, problems):
    """[Query] of a TACoS JSON file; bad entries are added to `problems`."""
    queries, skipped = [], 0
    for key, entry in read_videos_json(path, problems).items():
        where = f"{path}: video '{key}'"
        fps = number(entry.get("fps"), where, "fps", problems, positive=True)
        frames = number(entry.get("num_frames"), where, "num_frames", problems, positive=True)
        pairs = sentence_pairs(entry, where, problems)
        if fps is None or frames is None:
            continue
        for i, (st, ed), sentence in pairs:
            if st >= ed:
                skipped += 1
                continue
            queries.append(Query(video_name(key), sentence, [[st / fps, ed / fps]], f"{where} sentence {i}",
                                 frames / fps))
    if skipped:
        problems.note(f"skipped {skipped} sentence(s) with an empty window (start frame >= end frame), as 2D-TAN does")
    return queries

"""Reading the JSON inputs (ActivityNet Captions, TACoS): one object of videos, problems named by file and entry."""
import json


def read_videos_json(path, problems):
    """The {video key: entry} object of a JSON file, or {} with a problem (not JSON, not an object of objects)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        problems.add(f"{path}:{e.lineno}", f"not valid JSON ({e.msg} at column {e.colno})")
        return {}
    if not isinstance(data, dict):
        problems.add(path, f"expected a JSON object of videos, got {type(data).__name__}")
        return {}
    for key, entry in data.items():
        if not isinstance(entry, dict):
            problems.add(f"{path}: video '{key}'", f"expected an object, got {type(entry).__name__}")
    return {k: v for k, v in data.items() if isinstance(v, dict)}


def sentence_pairs(entry, where, problems):
    """[(index, [start, end], sentence as given)] of an entry's parallel `timestamps` and `sentences` lists;
    entries with a bad pair or a blank sentence are reported and left out."""
    stamps, sentences = entry.get("timestamps"), entry.get("sentences")
    if not isinstance(stamps, list) or not isinstance(sentences, list) or len(stamps) != len(sentences):
        problems.add(where, "needs lists 'timestamps' and 'sentences' of the same length, got "
                            f"{type(stamps).__name__} / {type(sentences).__name__}"
                            + (f" of {len(stamps)} / {len(sentences)}" if isinstance(stamps, list)
                               and isinstance(sentences, list) else ""))
        return []
    out = []
    for i, (ts, sentence) in enumerate(zip(stamps, sentences)):
        at = f"{where} sentence {i}"
        if not (isinstance(ts, list) and len(ts) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                             for x in ts)):
            problems.add(at, f"field 'timestamps'[{i}] = {ts!r} is not a [start, end] pair of numbers")
        elif not isinstance(sentence, str) or not sentence.strip():
            problems.add(at, f"field 'sentences'[{i}] = {sentence!r} is not a non-empty string")
        else:
            out.append((i, [float(ts[0]), float(ts[1])], sentence))
    return out

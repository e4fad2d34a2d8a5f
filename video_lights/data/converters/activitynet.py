"""ActivityNet Captions (train.json, val_1.json, val_2.json): {video id: {"duration": s, "timestamps": [[start,
end] s, ...], "sentences": [...]}}. One query per sentence, id "{vid}_{k}"; sentences are stripped of the
surrounding blanks the release carries."""
from video_lights.data.converters.jsonfile import read_videos_json, sentence_pairs
from video_lights.data.converters.records import Query, number


def read_activitynet(path, problems):
    """[Query] of an ActivityNet Captions file; bad entries are added to `problems`."""
    queries = []
    for vid, entry in read_videos_json(path, problems).items():
        where = f"{path}: video '{vid}'"
        duration = number(entry.get("duration"), where, "duration", problems, positive=True)
        pairs = sentence_pairs(entry, where, problems)
        if duration is not None:
            queries += [Query(vid, sentence.strip(), [window], f"{where} sentence {i}", duration)
                        for i, window, sentence in pairs]
    return queries

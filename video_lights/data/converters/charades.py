"""Charades-STA's original files (charades_sta_train.txt, charades_sta_test.txt): one query per line,
"VID START END##sentence" (seconds). They hold no durations: the converter probes them from the videos."""
from video_lights.data.converters.records import Query, number


def read_charades(path, problems):
    """[Query] of a Charades-STA .txt file; bad lines are added to `problems`."""
    queries = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            head, sep, sentence = line.rstrip("\r\n").partition("##")
            fields = head.split()
            if not sep or len(fields) != 3 or not sentence.strip():
                problems.add(where, f"expected 'VID START END##sentence', got {line.strip()[:80]!r}")
                continue
            n_bad = len(problems.messages)
            st, ed = (number(x, where, name, problems) for x, name in zip(fields[1:], ("start", "end")))
            if len(problems.messages) == n_bad:
                queries.append(Query(fields[0], sentence.strip(), [[st, ed]], where))
    return queries

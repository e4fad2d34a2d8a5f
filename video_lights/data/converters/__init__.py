"""Converters from other annotation formats to the QVHighlights JSON-lines format (data/README.md).

    queries = READERS["csv"](path, problems)          # [Query], bad rows collected in `problems`
    rows = to_rows(queries, durations, clip_length, problems)

Readers: `csv` (a CSV / TSV of video, query, start, end[, duration][, qid]), `activitynet` (ActivityNet Captions
JSON), `charades` (Charades-STA's original "vid start end##sentence" lines), `tacos` (TACoS in 2D-TAN's JSON:
frame timestamps, fps, num_frames). The command line is `python -m video_lights.convert`.
"""
from video_lights.data.converters.activitynet import read_activitynet
from video_lights.data.converters.charades import read_charades
from video_lights.data.converters.records import (DERIVED_SCORES, ConversionError, Problems, Query, derived_saliency,
                                                  to_rows)
from video_lights.data.converters.table import read_table
from video_lights.data.converters.tacos import read_tacos

READERS = {"csv": read_table, "activitynet": read_activitynet, "charades": read_charades, "tacos": read_tacos}

__all__ = ["READERS", "Query", "Problems", "ConversionError", "to_rows", "derived_saliency", "DERIVED_SCORES"]

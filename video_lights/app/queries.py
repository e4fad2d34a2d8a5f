"""The query box: one query per line."""
from video_lights.utils.cli import UserError

MAX_QUERY_CHARS = 500


def parse_queries(text, max_queries: int = 10) -> list:
    """The queries of the query box's text: one per line, stripped, blank lines and repeats dropped (first kept).
    Raises UserError when there is none, more than max_queries or one longer than MAX_QUERY_CHARS characters."""
    queries = []
    for line in (text or "").splitlines():
        q = " ".join(line.split())
        if q and q not in queries:
            queries.append(q)
    if not queries:
        raise UserError("queries: type at least one query (one per line)")
    if len(queries) > max_queries:
        raise UserError(f"queries: {len(queries)} queries, at most {max_queries} at a time")
    long = [i + 1 for i, q in enumerate(queries) if len(q) > MAX_QUERY_CHARS]
    if long:
        raise UserError(f"queries: query {long[0]} is longer than {MAX_QUERY_CHARS} characters")
    return queries

"""The official number format (the authors' standalone_eval/eval.py, `float(f"{100 * v:.2f}")`): percent scale,
two decimals, rounded once at the end."""


def percent(fraction) -> float:
    """100 * fraction rounded to 2 decimals the way the official evaluator does it (format, then parse)."""
    return float(f"{100 * fraction:.2f}")

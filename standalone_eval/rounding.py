"""The official number format (spec "Conventions"): percent scale, two decimals, rounded once at the end."""


def percent(fraction) -> float:
    """100 * fraction rounded to 2 decimals the way the official evaluator does it (format, then parse)."""
    return float(f"{100 * fraction:.2f}")

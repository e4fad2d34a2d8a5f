"""Standalone evaluator for QVHighlights, Charades-STA and TVSum submissions (numpy only)."""

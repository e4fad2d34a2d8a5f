"""Standalone evaluator for QVHighlights, Charades-STA and TVSum (numpy only; see eval.py).

Public API:
    standalone_eval.eval.eval_submission(submission, ground_truth, verbose=True, match_number=True, compat=False)
    standalone_eval.eval.eval_submission_zip(zip_path, gt_rows, compat=False)
    standalone_eval.tvsum.eval_tvsum(submission, ground_truth, compat=False)
    standalone_eval.submission.read_jsonl(path), SubmissionError, SubmissionWarning
"""

"""Standalone evaluator for QVHighlights, Charades-STA, TACoS, TVSum and YouTube Highlights (numpy only; eval.py).

Public API:
    standalone_eval.eval.eval_submission(submission, ground_truth, verbose=True, match_number=True, compat=False)
    standalone_eval.eval.eval_submission_zip(zip_path, gt_rows, compat=False)
    standalone_eval.tvsum.eval_tvsum(submission, ground_truth, compat=False)
    standalone_eval.youtube.eval_youtube(submission, ground_truth, compat=False)
    standalone_eval.eval.evaluate(metrics, submission, ground_truth, compat=False): by a spec's `metrics`
    standalone_eval.submission.read_jsonl(path), SubmissionError, SubmissionWarning
"""

#!/usr/bin/env bash
# Run the whole test suite on a fresh machine: sets up .venv on first use, then pytest.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/test_eval.py -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
VIDEOLIGHTS_EXTRAS=test,video source scripts/setup_env.sh
python -m pytest -q "$@"

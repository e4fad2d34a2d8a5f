#!/usr/bin/env bash
# Run the whole test suite on a fresh machine: sets up .venv on first use, then pytest, then the wheel check
# (scripts/check_wheel.sh, only when no arguments are given).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/test_eval.py -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
VIDEOLIGHTS_EXTRAS=test,video source scripts/setup_env.sh
# Best effort, for tests/test_app_browser.py (it skips, saying why, without them): the demo and browser extras
# (gradio, playwright) and Debian's Chromium. A missing registry or apt-get never fails the test run.
if ! python -c "import gradio, playwright" 2>/dev/null; then
  echo "[setup] installing the demo and browser extras (gradio, playwright)"
  timeout 900 python -m pip install -q -e ".[test,video,demo,browser]" >/dev/null 2>&1 \
    || echo "[setup] could not install gradio / playwright: the browser test will skip"
fi
if [ ! -x "${VIDEOLIGHTS_CHROMIUM:-/usr/bin/chromium}" ] && command -v apt-get >/dev/null 2>&1; then
  _sudo=""
  if [ "$(id -u)" -ne 0 ]; then _sudo="sudo -n"; fi
  echo "[setup] installing chromium (apt-get)"
  { timeout 600 $_sudo apt-get update -qq \
      && DEBIAN_FRONTEND=noninteractive timeout 900 $_sudo apt-get install -y -qq --no-install-recommends chromium; \
  } >/dev/null 2>&1 || echo "[setup] could not install chromium: the browser test will skip"
  unset _sudo
fi
ruff check .   # lint (pyproject.toml [tool.ruff]); a lint error fails the run before the tests
python -m pytest -q "$@"
# the whole suite (no arguments, as CI runs it) also builds the wheel and runs commands from a fresh install of it
if [ $# -eq 0 ]; then bash scripts/check_wheel.sh; fi

# Sourced by the other scripts: create .venv (once), install torch==2.13.0 and this project into it, activate it.
# Re-installs the project only when pyproject.toml or the extras (VIDEOLIGHTS_EXTRAS, default test) changed.
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_venv="${VIDEOLIGHTS_VENV:-$_root/.venv}"
if [ ! -x "$_venv/bin/python" ]; then
  echo "[setup] creating virtual environment $_venv"
  python3 -m venv "$_venv"
  "$_venv/bin/python" -m pip install -q --upgrade pip
fi
if ! "$_venv/bin/python" -c "import torch" 2>/dev/null; then
  echo "[setup] installing torch==2.13.0"
  "$_venv/bin/python" -m pip install -q torch==2.13.0
fi
_extras="${VIDEOLIGHTS_EXTRAS:-test}"   # test.sh adds the video extra (feature extraction tests)
_stamp="$_venv/.video_lights_installed"
_want="$(cat "$_root/pyproject.toml" | sha256sum | cut -d' ' -f1) $_extras"
if [ ! -f "$_stamp" ] || [ "$(cat "$_stamp")" != "$_want" ]; then
  echo "[setup] installing video_lights (editable) with the extras: $_extras"
  "$_venv/bin/python" -m pip install -q -e "$_root[$_extras]"
  echo "$_want" > "$_stamp"
fi
# shellcheck disable=SC1091
source "$_venv/bin/activate"
unset _root _venv _stamp _want _extras

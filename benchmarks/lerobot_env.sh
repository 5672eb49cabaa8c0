#!/usr/bin/env bash
# Build the peer for same-run comparisons: LeRobot 0.6.1 in its own venv, never in vlaforge's.
#
# LeRobot 0.6.1 needs Python >= 3.12 and torch < 2.12, so it cannot share vlaforge's venv; the
# benchmarks (benchmarks/loader_vs_lerobot.py) run its side as a subprocess of this venv's python.
#
#   bash benchmarks/lerobot_env.sh [VENV]      # default: ~/.cache/vlaforge/lerobot-0.6.1
#
# The interpreter: $PYTHON312 if set, else the newest CPython 3.12 under pyenv (~/.pyenv, /opt/pyenv),
# else python3.12 on PATH. Packages come from PyPI (torch 2.11 with its CUDA libraries: PyPI has
# no CPU-only build; they are unused on CPU), with LeRobot's accelerate extra so `lerobot-train` runs
# (benchmarks/lerobot_act.py). Idempotent: a venv that already imports lerobot 0.6.1 is kept (and given
# accelerate if it lacks it). pip runs under `nice` so a build does not slow down other work on a shared machine.
# Run LeRobot through $VENV/bin/lerobot-python (it also makes torchcodec find FFmpeg, see below).
set -euo pipefail

VENV="${1:-${LEROBOT_VENV:-$HOME/.cache/vlaforge/lerobot-0.6.1}}"
LEROBOT_VERSION="0.6.1"

find_python() {
  if [[ -n "${PYTHON312:-}" ]]; then echo "$PYTHON312"; return; fi
  local root p
  for root in "${PYENV_ROOT:-$HOME/.pyenv}" /opt/pyenv; do
    for p in $(ls -d "$root"/versions/3.12.*/bin/python3.12 2>/dev/null | sort -V -r); do
      echo "$p"; return
    done
  done
  command -v python3.12 || true
}

if [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c "import lerobot, sys; from importlib.metadata import version; sys.exit(version('lerobot') != '$LEROBOT_VERSION')" 2>/dev/null; then
  echo "$VENV already has lerobot $LEROBOT_VERSION"
  if ! "$VENV/bin/python" -c "import accelerate" 2>/dev/null; then
    echo "adding lerobot[accelerate-dep] (lerobot-train needs accelerate)"
    nice -n 19 "$VENV/bin/pip" install --quiet "lerobot[accelerate-dep]==$LEROBOT_VERSION"
  fi
else
  PY="$(find_python)"
  if [[ -z "$PY" ]] || ! "$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))'; then
    echo "error: no CPython 3.12 found (looked at \$PYTHON312, ~/.pyenv/versions/3.12.*, /opt/pyenv/versions/3.12.*, python3.12);" >&2
    echo "       install one (pyenv install 3.12) or set PYTHON312=/path/to/python3.12" >&2
    exit 1
  fi
  echo "building $VENV from $PY"
  "$PY" -m venv "$VENV"
  nice -n 19 "$VENV/bin/pip" install --quiet "lerobot[dataset,accelerate-dep]==$LEROBOT_VERSION" "torch>=2.2,<2.12" "av>=15,<16"
fi

# torchcodec (LeRobot's default video backend) loads the system's FFmpeg 4-8 shared libraries. Where there
# are none, give it the FFmpeg that PyAV's wheel bundles, under the sonames torchcodec asks for; the entry
# point bin/lerobot-python puts them on the library path, so LeRobot runs with its default backend.
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
LIBS="$VENV/ffmpeg-libs"
mkdir -p "$LIBS"
for f in "$SITE"/av.libs/lib{avutil,avcodec,avformat,avdevice,avfilter,swscale,swresample}-*.so.*; do
  [[ -e "$f" ]] || continue
  b="$(basename "$f")"
  major="$(sed -E 's/.*\.so\.([0-9]+).*/\1/' <<<"$b")"
  ln -sf "$f" "$LIBS/${b%%-*}.so.$major"
done
cat > "$VENV/bin/lerobot-python" <<WRAP
#!/usr/bin/env bash
# LeRobot's venv python with PyAV's FFmpeg on the library path (for torchcodec); written by benchmarks/lerobot_env.sh
export LD_LIBRARY_PATH="$LIBS:$SITE/av.libs\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
exec "$VENV/bin/python" "\$@"
WRAP
chmod +x "$VENV/bin/lerobot-python"
"$VENV/bin/lerobot-python" -c "
import lerobot, torch, av
from importlib.metadata import version
try:
    import torchcodec.decoders  # loads the FFmpeg libraries
    codec = 'torchcodec ' + version('torchcodec')
except Exception as e:
    codec = f'none ({type(e).__name__}); LeRobot falls back to pyav'
print('lerobot', version('lerobot'), 'torch', torch.__version__, 'av', av.__version__, 'torchcodec:', codec)
print('use:', '$VENV/bin/lerobot-python')
"

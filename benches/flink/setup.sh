#!/usr/bin/env bash
# Creates a Python venv with PyFlink (Apache Flink 2.3.0) for benches/flink/compare.py
# and benches/flink/vshape_throughput.py. Idempotent: a venv that already has
# apache-flink==2.3.0 is left alone. Not run by CI (it downloads ~850 MB).
#
#   benches/flink/setup.sh            # venv at target/flink-venv
#   WAVECREST_FLINK_VENV=/some/dir benches/flink/setup.sh
#
# Needs python3 (3.9-3.12) with the venv module and a Java 11/17 runtime on PATH
# (or JAVA_HOME) at run time.
set -euo pipefail

FLINK_VERSION=2.3.0
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${WAVECREST_FLINK_VENV:-$repo_root/target/flink-venv}"
python="${PYTHON:-python3}"

if [ -x "$venv/bin/python" ] &&
   "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('apache-flink') != '$FLINK_VERSION')" 2>/dev/null; then
  echo "apache-flink $FLINK_VERSION already installed in $venv"
  exit 0
fi

if [ ! -x "$venv/bin/python" ]; then
  echo "creating venv $venv"
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --upgrade pip >/dev/null
"$venv/bin/python" -m pip install "apache-flink==$FLINK_VERSION"

if ! command -v java >/dev/null 2>&1 && [ -z "${JAVA_HOME:-}" ]; then
  echo "warning: no java on PATH and JAVA_HOME unset; PyFlink needs Java 11 or 17" >&2
fi
"$venv/bin/python" -c "import pyflink, importlib.metadata as m; print('apache-flink', m.version('apache-flink'), 'in', '$venv')"

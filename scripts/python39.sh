#!/usr/bin/env bash
# Usage: scripts/python39.sh VENV_DIR
# Creates a Python 3.9 virtual environment at VENV_DIR with a current pip, touching nothing outside
# the project and VENV_DIR. Python 3.9 (what TF 2.6.5, the Ascend adapter's TensorFlow, runs on)
# is not in Debian 12, so Debian 11's own packages are fetched with apt-get download against a
# private sources list (the system's own Debian mirror, suite bullseye) and unpacked with dpkg -x
# into .tf26/python once; scripts/tf26-env.sh points LD_LIBRARY_PATH at their libraries. Set
# PYTHON39=/path/to/python3.9 to use an existing Python 3.9 instead.
set -euo pipefail
venv=${1:?usage: scripts/python39.sh VENV_DIR}
cd "$(dirname "$0")/.."
root=$PWD
prefix=$root/.tf26/python

debian_mirror() {
  # The mirror this machine's apt already uses for Debian, so no host is written here.
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  local uri
  uri=$( (grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}';
          grep -h '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | sed -E 's/^deb (\[[^]]*\] )?//' | awk '{print $1}') | grep -E '/debian/?$' | head -n 1 || true)
  if [ -z "$uri" ]; then
    echo "scripts/python39.sh: no Debian mirror in /etc/apt; set DEBIAN_MIRROR or PYTHON39" >&2
    exit 2
  fi
  echo "${uri%/}"
}

build_python39() {
  local apt=$root/.tf26/apt
  local opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
              -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
              -o "Dir::State::status=$apt/status" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/debs"
  : > "$apt/status"  # an empty package database: bullseye's versions, not the ones this system has
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(debian_mirror) bullseye main" \
    > "$apt/sources.list"
  apt-get "${opts[@]}" -qq update
  (cd "$apt/debs" && apt-get "${opts[@]}" -qq download \
     python3.9 python3.9-minimal libpython3.9-minimal libpython3.9-stdlib libssl1.1 libffi7 libmpdec3 \
     python3-distutils python3-lib2to3 python-pip-whl)
  rm -rf "$prefix.partial"
  for deb in "$apt"/debs/*.deb; do dpkg -x "$deb" "$prefix.partial"; done
  mv "$prefix.partial" "$prefix"
}

if [ -x "$venv/bin/python" ]; then exit 0; fi
if [ -n "${PYTHON39:-}" ]; then
  python39=$PYTHON39
else
  [ -x "$prefix/usr/bin/python3.9" ] || build_python39
  python39=$prefix/usr/bin/python3.9
fi
# shellcheck source=scripts/tf26-env.sh
source scripts/tf26-env.sh
rm -rf "$venv.partial"
"$python39" -m venv --without-pip "$venv.partial"
# Debian's bundled pip wheel runs as it is and installs a current pip into the venv.
wheel=$(ls "$prefix"/usr/share/python-wheels/pip-*.whl 2>/dev/null | head -n 1 || true)
if [ -n "$wheel" ]; then
  "$venv.partial/bin/python" "$wheel/pip" install --quiet --upgrade pip
else
  "$venv.partial/bin/python" -m ensurepip --upgrade
fi
rm -rf "$venv" && mv "$venv.partial" "$venv"
# The venv's scripts carry absolute paths; write them again at the final location.
"$venv/bin/python" -m pip install --quiet --force-reinstall --no-deps pip

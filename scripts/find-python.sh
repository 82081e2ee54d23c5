#!/usr/bin/env bash
# Usage: scripts/find-python.sh 3.13
# Prints the path of a Python of that version: python3.13 on the PATH if it runs, else one that pyenv installed
# (pyenv's shim alone runs only the versions pyenv has selected). Exit 2 with a line saying what to install if
# there is none.
set -euo pipefail
version=${1:?usage: scripts/find-python.sh 3.13}
runs() { "$1" -c 'import sys; sys.exit(0 if "%d.%d" % sys.version_info[:2] == "'"$version"'" else 1)' 2>/dev/null; }
if command -v "python$version" > /dev/null && runs "python$version"; then
  command -v "python$version"; exit 0
fi
root=$( (command -v pyenv > /dev/null && pyenv root) || echo "$HOME/.pyenv")
for candidate in "$root"/versions/"$version".*/bin/python"$version"; do
  if [ -x "$candidate" ] && runs "$candidate"; then
    echo "$candidate"; exit 0
  fi
done
echo "scripts/find-python.sh: no Python $version here (neither python$version on the PATH nor in pyenv); install" \
     "it, e.g. pyenv install $version" >&2
exit 2

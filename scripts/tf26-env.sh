# Sourced by the TF 2.6 scripts: the libraries of the private Python 3.9 (scripts/setup-tf26.sh).
tf26_prefix="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.tf26/python"
export LD_LIBRARY_PATH="$tf26_prefix/usr/lib/x86_64-linux-gnu:$tf26_prefix/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

#!/usr/bin/env bash
# Installs cortex: builds the release binary and puts it, with its Python worker runtime, under a prefix:
#   $PREFIX/bin/cortex                 the binary
#   $PREFIX/share/cortex/python/       the runtime it runs predictors with (cortex_worker, requirements)
# The binary finds the runtime relative to its own real path, so $PREFIX/bin can be anywhere.
#
# Usage: scripts/install.sh [--prefix DIR] [--uninstall]
#   --prefix DIR   where to install (default: $PREFIX if set, else $HOME/.local)
#   --uninstall    remove what an install put there (not the environments cache, ~/.cache/cortex-swift)
# Environment: CORTEX_INSTALL_BINARY=PATH installs that already-built binary instead of building one
# (the tests use it with the debug binary, to skip a release build).
set -euo pipefail

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; }

prefix=${PREFIX:-$HOME/.local}
uninstall=0
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) [ $# -ge 2 ] || { echo "install.sh: --prefix needs a directory" >&2; exit 2; }; prefix=$2; shift 2 ;;
        --prefix=*) prefix=${1#--prefix=}; shift ;;
        --uninstall) uninstall=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done
[ -n "$prefix" ] || { echo "install.sh: the prefix is empty" >&2; exit 2; }

root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)
bin_dir=$prefix/bin
share_dir=$prefix/share/cortex

if [ "$uninstall" = 1 ]; then
    removed=0
    for path in "$bin_dir/cortex" "$share_dir"; do
        if [ -e "$path" ] || [ -L "$path" ]; then
            rm -rf "$path"
            echo "removed $path"
            removed=1
        fi
    done
    [ "$removed" = 1 ] || echo "nothing to remove under $prefix"
    exit 0
fi

if [ -n "${CORTEX_INSTALL_BINARY:-}" ]; then
    binary=$CORTEX_INSTALL_BINARY
    [ -x "$binary" ] || { echo "install.sh: CORTEX_INSTALL_BINARY=$binary is not an executable" >&2; exit 1; }
    echo "using the binary $binary (CORTEX_INSTALL_BINARY)"
else
    echo "building the release binary (swift build -c release; a few minutes the first time)"
    (cd "$root" && swift build -c release --product cortex)
    binary=$(cd "$root" && swift build -c release --show-bin-path)/cortex
fi

runtime=$root/Sources/Workers/python
[ -f "$runtime/cortex_worker/__main__.py" ] || { echo "install.sh: no runtime at $runtime" >&2; exit 1; }

mkdir -p "$bin_dir" "$share_dir"
# Runtime first, then the binary; each replaced by a rename, so a running cortex is never half-updated.
staging=$(mktemp -d "$share_dir/.python.XXXXXX")
trap 'rm -rf "$staging"' EXIT
(cd "$runtime" && find . -name __pycache__ -prune -o -name '*.py[co]' -prune -o -type f -print) |
    while IFS= read -r file; do
        mkdir -p "$staging/$(dirname "$file")"
        cp "$runtime/$file" "$staging/$file"
    done
chmod -R u=rwX,go=rX "$staging"
rm -rf "$share_dir/python"
mv "$staging" "$share_dir/python"
trap - EXIT
cp "$binary" "$bin_dir/.cortex.new"
chmod 0755 "$bin_dir/.cortex.new"
mv -f "$bin_dir/.cortex.new" "$bin_dir/cortex"

echo "installed $bin_dir/cortex"
echo "installed the Python runtime in $share_dir/python"
case ":$PATH:" in
    *":$bin_dir:"*) echo "$bin_dir is on PATH: run 'cortex serve PATH' or 'cortex --help'" ;;
    *)
        echo "$bin_dir is not on PATH; add it, e.g. in ~/.bashrc:"
        echo "    export PATH=\"$bin_dir:\$PATH\""
        ;;
esac

#!/usr/bin/env bash
# Downloads the real releases of releases.txt into DIR (default target/real-releases) for
# `just test-real`: DIR/<package>/release/ holds the files under their upstream names
# (<name>-<version>.tar.gz, .asc, .sha512) and DIR/<package>/KEYS the project's keys.
# Debian's source archives are the source (apt-get source needs a deb-src line; this adds one
# for the configured mirror if there is none, which needs root). Already downloaded ones stay.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(mkdir -p "${1:-$here/../../target/real-releases}" && cd "${1:-$here/../../target/real-releases}" && pwd)
src=/etc/apt/sources.list.d/deb-src.sources
if [ ! -f "$src" ]; then
    awk 'BEGIN{RS=""; ORS="\n\n"} /Types: deb/ && !/security/ {sub(/Types: deb/, "Types: deb-src"); print; exit}' \
        /etc/apt/sources.list.d/debian.sources > "$src"
    apt-get update -qq
fi

fetch() { # package → $out/.debian/<package>/ with the orig tarball, its .asc and KEYS
    local pkg=$1 dir="$out/.debian/$1"
    [ -f "$dir/KEYS" ] && return 0
    mkdir -p "$dir"
    (cd "$dir" && apt-get source --download-only "$pkg" </dev/null >/dev/null 2>&1 \
        && tar xJf ./*.debian.tar.xz debian/upstream/signing-key.asc \
        && mv debian/upstream/signing-key.asc KEYS && rm -rf debian ./*.dsc ./*.debian.tar.xz) \
        || { echo "cannot fetch $pkg" >&2; rm -rf "$dir"; return 1; }
}

grep -v '^#' "$here/releases.txt" | while read -r pkg extra; do
    [ -n "$pkg" ] || continue
    fetch "$pkg" || continue
    release="$out/$pkg/release"
    rm -rf "$release" && mkdir -p "$release"
    cat "$out/.debian/$pkg/KEYS" > "$out/$pkg/KEYS"
    for other in $extra; do
        fetch "$other" && cat "$out/.debian/$other/KEYS" >> "$out/$pkg/KEYS"
    done
    for orig in "$out/.debian/$pkg"/*.orig.tar.*; do
        case "$orig" in *.asc) continue ;; esac
        # The upstream name: the tarball's top-level directory and its extension.
        top=$(set +o pipefail; tar tf "$orig" | head -1 | cut -d/ -f1)
        ext=${orig##*.orig}
        cp "$orig" "$release/$top$ext"
        cp "$orig.asc" "$release/$top$ext.asc"
        (cd "$release" && sha512sum "$top$ext" > "$top$ext.sha512")
        echo "$pkg: $release/$top$ext"
    done
done

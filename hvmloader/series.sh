# SPDX-License-Identifier: MIT
# What hvmloader/build, build-xl, format-series and matrix share, sourced by
# each (`. "$here/series.sh"`, $here being this directory): which patches
# hvmloader/series lists, and how one of them goes onto a tree.

# series_patches [upstream]: hvmloader/series' patches, in order; with
# "upstream", those for xen-devel alone (not compat/).  Prints nothing if the
# file lists none.
series_patches() {
    grep -v '^#' "$here/series" | grep -v '^ *$' | {
        if [ "${1:-}" = upstream ]; then grep -v '^compat/'; else cat; fi
    } || true
}

# apply_patch TREE PATCH: hvmloader/patches/PATCH onto TREE with patch
# --fuzz=0, saying "== PATCH" and patch's own output on stdout; non-zero if it
# does not apply.  A patch of CHANGELOG.md alone extends master's and has no
# code: it is skipped, and said to be.
apply_patch() {
    if ! grep '^diff --git ' "$here/patches/$2" | grep -qv ' a/CHANGELOG.md '; then
        echo "== $2: not applied (CHANGELOG.md only)"
        return 0
    fi
    echo "== $2"
    patch -d "$1" -p1 --fuzz=0 -N --no-backup-if-mismatch -r - <"$here/patches/$2"
}

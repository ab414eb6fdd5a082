# hypervisor/lib/common.sh: shared helpers for the board's build and run
# scripts: logging, the input-keyed cache, and fetching Debian arm64 packages.
# Sourced, never run.

# Xen version used everywhere: the bundled hypervisor's source, the stock
# hypervisor, dom0's Xen tools and the agent's arm64 sysroot. One version, so
# that hypercall interfaces match whichever flavour boots.
XEN_DEB_VERSION=4.17.5+72-g01140da4e8-1

XVMD_ROOT=${XVMD_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# Downloads and builds keyed by their inputs; safe to share between clones.
XVMD_CACHE=${XVMD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/xvmd}
# Per-checkout outputs (cross-built agent, assembled images, board state).
XVMD_BUILD=${XVMD_BUILD:-$XVMD_ROOT/build}

log() { printf '%s: %s\n' "${XVMD_LOG_TAG:-xvmd}" "$*" >&2; }
die() { printf '%s: error: %s\n' "${XVMD_LOG_TAG:-xvmd}" "$*" >&2; exit 1; }

# hash_inputs FILE... : a short, stable hash of files' contents and of the
# extra words in $HASH_EXTRA; the key of a cache entry.
hash_inputs() {
    { for f in "$@"; do printf '%s\n' "${f#"$XVMD_ROOT"/}"; cat "$f"; done
      printf '%s\n' "${HASH_EXTRA:-}"; } | sha256sum | cut -c1-16
}

# Pin every package built from the xen source package to XEN_DEB_VERSION.
deb_pin() {
    case "$1" in
        libxen*|xen-*|xenstore-utils) printf '%s:arm64=%s' "$1" "$XEN_DEB_VERSION" ;;
        *) printf '%s:arm64' "$1" ;;
    esac
}

# Candidate versions of arm64 packages, looked up in bulk (apt-cache is slow
# one package at a time).
declare -A DEB_VERSIONS=()
deb_versions_load() {
    local want=() p
    for p in "$@"; do [[ -n ${DEB_VERSIONS[$p]:-} ]] || want+=("$p:arm64"); done
    (( ${#want[@]} )) || return 0
    while read -r p v; do DEB_VERSIONS[$p]=$v; done < <(
        apt-cache policy "${want[@]}" 2>/dev/null |
        awk '/^[^ ]/ { sub(/:(arm64)?$/, "", $1); sub(/:arm64$/, "", $1); name = $1 }
             /Candidate:/ { print name, $2 }')
}

# deb_version PKG : the version `apt-get download` fetches for PKG:arm64.
deb_version() {
    case "$1" in
        libxen*|xen-*|xenstore-utils) printf '%s' "$XEN_DEB_VERSION"; return ;;
    esac
    [[ -n ${DEB_VERSIONS[$1]:-} ]] || deb_versions_load "$1"
    printf '%s' "${DEB_VERSIONS[$1]:-}"
}

# deb_file DIR PKG : the path of PKG's .deb in DIR (apt-get download names
# it NAME_VERSION_ARCH.deb with the epoch's colon as %3a).
deb_file() {
    local v f; v=$(deb_version "$2")
    f=$(printf '%s/%s_%s_' "$1" "$2" "${v/:/%3a}")
    if [[ -f ${f}all.deb ]]; then printf '%sall.deb' "$f"; else printf '%sarm64.deb' "$f"; fi
}

# fetch_debs DIR PKG... : download the arm64 packages into DIR (a cache of
# .deb files; a package already there at the same version is not fetched).
fetch_debs() {
    local dir=$1; shift
    mkdir -p "$dir"
    deb_versions_load "$@"
    local want=() p v
    for p in "$@"; do
        v=$(deb_version "$p")
        [[ -n $v && $v != "(none)" ]] || die "no arm64 package '$p' in the apt lists (run hypervisor/deps)"
        [[ -f $(deb_file "$dir" "$p") ]] || want+=("$(deb_pin "$p")")
    done
    if (( ${#want[@]} )); then
        log "downloading ${#want[@]} arm64 packages"
        # apt-get download writes to the current directory; _apt can't write
        # to root-owned caches, so it warns and downloads unsandboxed.
        (cd "$dir" && apt-get download -q "${want[@]}" 2>&1 \
            | grep -v -e 'unsandboxed' -e '^Get:' -e '^Fetched' >&2) || true
        for p in "${want[@]}"; do
            p=${p%%:*}
            [[ -f $(deb_file "$dir" "$p") ]] \
                || die "download of arm64 package '$p' ($(deb_version "$p")) failed"
        done
    fi
}

# resolve_debs EXCLUDE_REGEX PKG... : PKG and the closure of their Depends and
# Pre-Depends on arm64 (first alternative of each), minus names matching
# EXCLUDE_REGEX. Prints one name per line, sorted.
resolve_debs() {
    local exclude=$1; shift
    declare -A seen=()
    local queue=("$@") next p
    while (( ${#queue[@]} )); do
        next=()
        for p in "${queue[@]}"; do
            [[ -n ${seen[$p]:-} ]] && continue
            [[ $p =~ $exclude ]] && continue
            seen[$p]=1
        done
        mapfile -t next < <(
            apt-cache depends --no-recommends --no-suggests --no-conflicts \
                --no-breaks --no-replaces --no-enhances \
                $(for p in "${queue[@]}"; do [[ -n ${seen[$p]:-} ]] && printf '%s:arm64 ' "$p"; done) 2>/dev/null |
            awk '
                /^[^ ]/ { alt = 0; next }
                /^  \|?(Pre)?Depends:/ {
                    if (alt) { alt = ($1 ~ /^\|/); next }
                    alt = ($1 ~ /^\|/)
                    sub(/:.*$/, "", $2); if ($2 !~ /^</) print $2
                }' | sort -u)
        queue=()
        for p in "${next[@]}"; do
            [[ -z ${seen[$p]:-} && ! $p =~ $exclude ]] && queue+=("$p")
        done
    done
    printf '%s\n' "${!seen[@]}" | sort
}

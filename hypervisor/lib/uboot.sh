# hypervisor/lib/uboot.sh: builds U-Boot's xenguest_arm64 board from Debian's
# u-boot source package with the project's fixes (guest-images/uboot/patches)
# and a Kconfig fragment on top of xenguest_arm64_defconfig. Shared by the
# U-Boot guest (guest-images/uboot/build) and the EFI firmware
# (firmware/uboot-efi/build). Sourced after common.sh, never run.

UBOOT_PATCHES=$XVMD_ROOT/guest-images/uboot/patches

# uboot_check_tools : dies when a tool the build needs is missing.
uboot_check_tools() {
    local c
    for c in aarch64-linux-gnu-gcc make bison flex bc xxd patch dpkg-source; do
        command -v "$c" >/dev/null || die "$c is missing (run hypervisor/deps)"
    done
}

# uboot_version : the newest u-boot source package the archive has
# (bookworm: 2023.01).
uboot_version() {
    local v
    v=$({ apt-cache showsrc u-boot 2>/dev/null || true; } | awk '/^Version:/ {print $2}' | sort -V | tail -n1)
    [[ -n $v ]] || die "no u-boot source package in the apt lists (run hypervisor/deps for its deb-src entry)"
    printf '%s' "$v"
}

# uboot_inputs : the files every U-Boot build depends on besides its own
# (for hash_inputs): this file and the patches.
uboot_inputs() {
    printf '%s\n' "$XVMD_ROOT/hypervisor/lib/uboot.sh"
    find "$UBOOT_PATCHES" -type f | LC_ALL=C sort
}

# uboot_fragment FILE... : the Kconfig lines of fragment files (comments and
# blank lines left out), in order.
uboot_fragment() {
    grep -hv '^#' "$@" | grep .
}

# uboot_build VERSION FRAGMENT WORK OUT [PATCH...] : builds u-boot.bin from
# xenguest_arm64_defconfig plus the Kconfig lines in the file FRAGMENT, with
# the project's patches and then the PATCH files, in the folder WORK (the
# caller's, which it removes), and puts u-boot.bin and its .config (as
# "config") in the folder OUT. Every line
# of FRAGMENT must survive `make olddefconfig`. The result carries the arm64
# Image header, so libxenguest's zimage64 loader takes it as a kernel.
uboot_build() {
    local version=$1 fragment=$2 work=$3 out=$4
    shift 4
    local src=$XVMD_CACHE/src/u-boot-$version
    if [[ ! -f $src/.unpacked ]]; then
        log "fetching U-Boot's source package ($version)"
        rm -rf "$src"; mkdir -p "$src"
        (cd "$src" && apt-get source -q --download-only "u-boot=$version" > apt.log 2>&1) || true
        compgen -G "$src/u-boot_*.dsc" >/dev/null || { cat "$src/apt.log" >&2; die "apt-get source u-boot=$version failed"; }
        (cd "$src" && dpkg-source -q -x u-boot_*.dsc tree >/dev/null)
        touch "$src/.unpacked"
    fi

    local p
    # The cached source stays pristine; the patched copy is this build's.
    cp -a "$src/tree" "$work/src"
    for p in "$UBOOT_PATCHES"/*.patch "$@"; do
        patch -s -p1 -d "$work/src" < "$p" || die "patch $(basename "$p") does not apply to u-boot $version"
    done
    # The banner's build date is the source package's: same inputs, same bytes.
    local epoch
    epoch=$(dpkg-parsechangelog -l "$src/tree/debian/changelog" -STimestamp)
    local mk=(make -C "$work/src" O="$work/out" CROSS_COMPILE=aarch64-linux-gnu- SOURCE_DATE_EPOCH="$epoch" -j"$(nproc)")
    if ! (
        "${mk[@]}" xenguest_arm64_defconfig &&
        cat "$fragment" >> "$work/out/.config" &&
        "${mk[@]}" olddefconfig &&
        # A dropped option would silently give another boot: fail instead.
        while read -r line; do
            grep -qxF "$line" "$work/out/.config" || { echo "Kconfig dropped: $line"; exit 1; }
        done < "$fragment" &&
        "${mk[@]}" u-boot.bin
    ) > "$work/build.log" 2>&1; then
        tail -n 30 "$work/build.log" >&2; die "U-Boot build failed"
    fi
    [[ $(od -An -tx1 -j 56 -N 4 "$work/out/u-boot.bin" | tr -d ' \n') == 41524d64 ]] \
        || die "u-boot.bin has no arm64 Image header: libxenguest would not load it"
    cp "$work/out/u-boot.bin" "$out/u-boot.bin"
    cp "$work/out/.config" "$out/config"
}

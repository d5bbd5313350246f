#!/usr/bin/env bash
# The package and the container image, built and used as an operator would (needs root):
#   test_container.sh [BUILD_DIR]      (default: build; it must hold a built onestor + unit tests)
# 1. `cmake --build BUILD_DIR --target package` makes the .deb; its contents are checked, and
#    lintian has no error or warning to report.
# 2. mmdebstrap makes a bookworm root filesystem (variant apt) from the Debian mirror apt
#    already uses: one tarball, used for both steps below (ONESTOR_ROOTFS_CACHE=FILE keeps it
#    across runs).
# 3. The .deb installed into a fresh copy of it (chroot, apt resolving the Depends): onestor
#    --version, actions, doctor; `dpkg -r` leaves nothing but the conffile, `dpkg -P` not that.
# 4. The image: podman import of the tarball, packaging/Containerfile adding the .deb,
#    ENTRYPOINT onestor; `podman save --format oci-archive` (its size is printed). Inside it:
#    onestor --version, actions, the unit tests (the build's binary, on the image's
#    libraries), and test/e2e/test_shared_lifecycle.sh with the container as the front-end:
#    every driver call of the suite runs the image's remotes tree in a container of its own
#    (host network, so the suite's sshd test hosts outside are reached; the suite's
#    directories bind-mounted).
# podman keeps its state under a temporary directory (--root/--runroot/--tmpdir) and runs
# with runc, --network=none or host, explicit ulimits; what it writes elsewhere
# (/var/lib/containers/cache, cgroup directories) is removed when this run made it.
# Prints ok -/FAIL - lines and "N passed, N failed"; exit 0 only when all passed.
set -uo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
B=$(cd "${1:-$SRC/build}" && pwd) || exit 1
PASS=0 FAIL=0
pass() { PASS=$((PASS + 1)); echo "ok - $*"; }
fail() { FAIL=$((FAIL + 1)); echo "FAIL - $*"; }
check() { local d=$1; shift; if "$@"; then pass "$d"; else fail "$d"; fi; }
finish() { echo "$PASS passed, $FAIL failed"; [ "$FAIL" -eq 0 ] && [ "$PASS" -gt 0 ]; exit $?; }
t0=$SECONDS
stamp() { echo "# $1: $((SECONDS - t0)) s"; }

[ "$(id -u)" -eq 0 ] || { echo "test_container.sh needs root (chroot, podman)" >&2; exit 1; }
for tool in mmdebstrap podman runc lintian; do
    command -v "$tool" >/dev/null || { fail "$tool is not installed (scripts/deps.sh)"; finish; }
done

# Work directory in the build tree (not /tmp: the suite's /tmp is bind-mounted into containers).
W=$(mktemp -d "$B/container-work.XXXXXX")
# podman refuses a runroot path over 50 characters, which a build tree's may be: a short one.
RR=$(mktemp -d /run/onestor-ctr.XXXXXX)
IMAGE=localhost/onestor:test BASE=localhost/onestor-base:bookworm
CGROUP=onestor-ctr-$$
HN=$(ulimit -Hn)
P=(podman --root "$W/root" --runroot "$RR" --tmpdir "$W/tmp" --runtime runc
   --cgroup-manager cgroupfs --events-backend file --storage-driver overlay)
RUN=(run --rm --pull never --log-driver none --runtime runc --cgroup-parent "/$CGROUP"
     --ulimit "nofile=$HN:$HN" --ulimit nproc=4096:4096)
had_cache=0; [ -e /var/lib/containers/cache ] && had_cache=1
had_libpod=0; compgen -G '/sys/fs/cgroup/*/libpod_parent' >/dev/null && had_libpod=1

cleanup() {
    [ -z "${TRACE:-}" ] || rmdir "$TRACE" 2>/dev/null  # (our tracing instance, before its mount goes)
    "${P[@]}" rm -af >/dev/null 2>&1
    "${P[@]}" rmi -af >/dev/null 2>&1
    # What podman left mounted under its state (the overlay's bind mount of itself), and the
    # chroot's mounts, innermost first.
    local m
    for m in $(awk -v w="$W" -v r="$RR" 'index($2, w) == 1 || index($2, r) == 1 {print $2}' /proc/mounts | sort -r); do
        umount -l "$m" 2>/dev/null
    done
    rm -rf "$W" "$RR"
    [ "$had_cache" -eq 1 ] || rm -rf /var/lib/containers/cache
    rmdir /var/lib/containers 2>/dev/null
    local d
    for d in $(find /sys/fs/cgroup -depth -type d \( -path "*/$CGROUP*" -o -path '*/libpod_parent*' \) 2>/dev/null); do
        case "$d" in *"/$CGROUP"*) rmdir "$d" 2>/dev/null ;; *) [ "$had_libpod" -eq 1 ] || rmdir "$d" 2>/dev/null ;; esac
    done
}
trap cleanup EXIT
trap "exit 130" INT TERM

# ---- 1. the package ------------------------------------------------------------------------
if ! cmake --build "$B" --target package >"$W/package.log" 2>&1; then
    tail -n 20 "$W/package.log"; fail "cmake --build $B --target package"; finish
fi
DEB=$(ls "$B"/onestor_*.deb)
pass "package built: $(basename "$DEB"), $(stat -c %s "$DEB") bytes"
dpkg-deb -c "$DEB" | awk '{print $6}' | sed 's|^\./|/|' >"$W/deb.list"
dpkg-deb -f "$DEB" Depends Recommends >"$W/deb.control"
check "deb: /usr/bin/onestor, the remotes tree, the conffile, the man page, the copyright" \
    eval '(for f in /usr/bin/onestor /usr/lib/onestor/remotes/onestor /usr/lib/onestor/remotes/tm/ssh/clone /usr/lib/onestor/remotes/datastore/fs/cp /etc/one/onestor.conf /usr/share/man/man1/onestor.1.gz /usr/share/doc/onestor/copyright; do grep -qx "$f" "$W/deb.list" || { echo "missing $f"; exit 1; }; done)'
# The tree is what install-remotes makes, not a list: one entry per registered action link.
mkdir -p "$W/tree" && "$B/onestor" install-remotes "$W/tree/r" >/dev/null
check "deb: the remotes tree has exactly the links install-remotes makes" \
    test "$(cd "$W/tree/r" && find . -type l | sed 's|^\.|/usr/lib/onestor/remotes|' | sort)" = \
         "$(dpkg-deb -c "$DEB" | awk '$1 ~ /^l/ {print $6}' | sed 's|^\./|/|' | sort)"
check "deb: /etc/one/onestor.conf is a conffile" sh -c "dpkg-deb --ctrl-tarfile '$DEB' | tar -xO ./conffiles | grep -qx /etc/one/onestor.conf"
check "deb: no maintainer scripts (nothing touches /var/lib/one/remotes)" \
    sh -c "! dpkg-deb --ctrl-tarfile '$DEB' | tar -t | grep -E 'postinst|preinst|prerm|postrm'"
check "deb: Depends from the shared libraries plus qemu-utils, openssh-client, e2fsprogs and the downloader's libraries" \
    eval 'for p in libc6 libtinyxml2 qemu-utils openssh-client e2fsprogs libcurl4 libarchive13 libssl3 zlib1g; do grep -q "$p" "$W/deb.control" || { echo "no $p"; exit 1; }; done'
check "deb: lvm2 and libvirt-clients recommended" grep -q "lvm2, libvirt-clients" "$W/deb.control"
# Debian's own package checker: no error, no warning (its informational notes are printed).
LINT=$(lintian --fail-on error,warning --display-info --tag-display-limit 0 "$DEB" 2>&1); LRC=$?
LINT=$(grep -v 'root privileges' <<<"$LINT")
check "deb: lintian finds no error or warning ($(grep -c '^[EW]: ' <<<"$LINT") tags, $(grep -c '^I: ' <<<"$LINT") notes)" \
    eval '[ "$LRC" -eq 0 ] && ! grep -q "^[EW]: " <<<"$LINT"'
[ -z "$LINT" ] || sed 's/^/#   /' <<<"$LINT"
check "deb: the binary is hardened (stack protector, fortify, relro, bind-now)" \
    eval '! grep -q "hardening-no" <<<"$LINT"'
stamp "package"

# ---- 2. the root filesystem, once ------------------------------------------------------------
MIRROR=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | grep -v security | head -n1)
[ -n "$MIRROR" ] || MIRROR=$(awk '$1 == "deb" && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
: "${MIRROR:=http://deb.debian.org/debian}"
ROOTFS=${ONESTOR_ROOTFS_CACHE:-$W/bookworm.tar}
if [ ! -s "$ROOTFS" ]; then
    # mmdebstrap picks the format from the name: the partial file must end in .tar too.
    if ! mmdebstrap --variant=apt --quiet bookworm "$ROOTFS.partial.tar" "$MIRROR" >"$W/mmdebstrap.log" 2>&1; then
        tail -n 20 "$W/mmdebstrap.log"; fail "mmdebstrap bookworm from $MIRROR"; finish
    fi
    mv "$ROOTFS.partial.tar" "$ROOTFS"
fi
[ -f "$ROOTFS" ] && tar -tf "$ROOTFS" ./usr/bin/apt-get >/dev/null 2>&1 || { fail "$ROOTFS is no root filesystem tarball"; finish; }
pass "root filesystem: mmdebstrap --variant=apt bookworm from $MIRROR ($(stat -c %s "$ROOTFS") bytes)"
mkdir -p "$W/apt"  # downloaded .debs, shared by the chroot and the image build
stamp "rootfs"

# ---- 3. the .deb in a fresh root filesystem ----------------------------------------------------
R=$W/chroot
mkdir -p "$R" && tar -xf "$ROOTFS" -C "$R"
cp /etc/resolv.conf "$R/etc/resolv.conf"
cp "$DEB" "$R/tmp/onestor.deb"
# in_chroot CMD...: runs CMD in the chroot with its own /proc and the shared apt cache.
in_chroot() {
    unshare -m -p -f --propagation private sh -c 'mount --bind "$1/apt" "$2/var/cache/apt/archives" && mount -t proc proc "$2/proc" && shift 2 && exec chroot "$@"' \
        sh "$W" "$R" "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root DEBIAN_FRONTEND=noninteractive "$@"
}
listing() {  # everything on the root filesystem but what apt, dpkg and the kernel keep changing
    in_chroot find / -xdev \( -path /proc -o -path /tmp -o -path /var/cache -o -path /var/log -o -path /var/lib/dpkg \
        -o -path /var/lib/apt \) -prune -o -print | sort
}
# apt resolves the Depends; then the package alone is purged and installed again with dpkg,
# so the listing taken in between has every dependency and nothing of onestor's.
OUT=$(in_chroot sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends /tmp/onestor.deb' 2>&1); RC=$?
check "chroot: apt-get install ./onestor.deb (Depends resolved by apt)" test "$RC" -eq 0
[ "$RC" -eq 0 ] || echo "$OUT" | tail -n 20
in_chroot dpkg -P onestor >/dev/null 2>&1
listing >"$W/before.list"
check "chroot: dpkg -i onestor.deb" eval 'in_chroot dpkg -i /tmp/onestor.deb >/dev/null 2>&1'
check "chroot: onestor --version" test "$(in_chroot onestor --version)" = "$("$B/onestor" --version)"
check "chroot: onestor actions is the build's matrix" test "$(in_chroot onestor actions)" = "$("$B/onestor" actions)"
check "chroot: /etc/one/onestor.conf is the generated template" cmp -s "$R/etc/one/onestor.conf" "$B/onestor.conf"
check "chroot: the remotes tree's binary is /usr/bin/onestor" cmp -s "$R/usr/lib/onestor/remotes/onestor" "$R/usr/bin/onestor"
check "chroot: a link of the tree runs its action (tm/ssh/clone --help)" \
    eval 'in_chroot /usr/lib/onestor/remotes/tm/ssh/clone --help | grep -q "^tm/ssh/clone "'
# doctor on the bare front-end: oned's remotes are not switched over yet, so it says so and
# fails; after install-remotes into a remotes directory (and oned's VERSION file, which
# install-remotes does not write), with datastore and lock directories of root's, it passes.
OUT=$(in_chroot onestor doctor 2>&1); RC=$?
check "chroot: doctor before the switch: exit 1 naming the remotes tree and its fix" \
    eval '[ "$RC" -eq 1 ] && grep -q "/var/lib/one/remotes.*install-remotes" <<<"$OUT"'
echo "$OUT" | sed 's/^/#   /'
OUT=$(in_chroot sh -c 'mkdir -p /tmp/ds/0 /tmp/ds/1 && onestor install-remotes /tmp/remotes >/dev/null && echo 6.10.0 >/tmp/remotes/VERSION &&
      ONESTOR_REMOTES_DIR=/tmp/remotes ONESTOR_DATASTORE_LOCATION=/tmp/ds ONESTOR_LOCK_DIR=/tmp/lock onestor doctor' 2>&1); RC=$?
check "chroot: doctor after the switch: exit 0" test "$RC" -eq 0
echo "$OUT" | sed 's/^/#   /'
in_chroot dpkg -r onestor >/dev/null 2>&1
listing >"$W/after.list"
left=$(comm -13 "$W/before.list" "$W/after.list" | tr '\n' ' ')
check "chroot: dpkg -r leaves only the conffile (and its directory): $left" test "$left" = "/etc/one /etc/one/onestor.conf "
check "chroot: dpkg -r removes nothing it did not install" test -z "$(comm -23 "$W/before.list" "$W/after.list")"
in_chroot dpkg -P onestor >/dev/null 2>&1
check "chroot: dpkg -P removes the conffile too" test ! -e "$R/etc/one/onestor.conf"
umount -l "$R/proc" 2>/dev/null
rm -rf "$R"
stamp "chroot"

# ---- 4. the image ----------------------------------------------------------------------------
mkdir -p "$W/ctx" && cp "$DEB" "$W/ctx/onestor.deb"
"${P[@]}" import -q "$ROOTFS" "$BASE" >/dev/null || { fail "podman import of the root filesystem"; finish; }
pass "podman import of the root filesystem"
if "${P[@]}" build -q --pull=never --runtime runc --cgroup-parent "/$CGROUP" --network host --ulimit "nofile=$HN:$HN" \
        --ulimit nproc=4096:4096 -v "$W/apt:/var/cache/apt/archives" --build-arg "BASE=$BASE" \
        -f "$SRC/packaging/Containerfile" -t "$IMAGE" "$W/ctx" >"$W/build.log" 2>&1; then
    pass "podman build -f packaging/Containerfile (the .deb on the imported base)"
else
    tail -n 20 "$W/build.log"; fail "podman build -f packaging/Containerfile"; finish
fi
check "image: ENTRYPOINT is onestor" test "$("${P[@]}" image inspect -f '{{json .Config.Entrypoint}}' "$IMAGE")" = '["onestor"]'
"${P[@]}" save -q --format oci-archive -o "$W/onestor-oci.tar" "$IMAGE" 2>"$W/save.log"
check "podman save --format oci-archive" test -s "$W/onestor-oci.tar"
echo "# artefacts: onestor .deb $(stat -c %s "$DEB") bytes; OCI archive $(stat -c %s "$W/onestor-oci.tar" 2>/dev/null) bytes; base rootfs tarball $(stat -c %s "$ROOTFS") bytes"
[ -n "${ONESTOR_OCI_OUT:-}" ] && cp "$W/onestor-oci.tar" "$ONESTOR_OCI_OUT"
stamp "image"

ctr() { "${P[@]}" "${RUN[@]}" --network=none "$@"; }
check "container: onestor --version (the entrypoint)" test "$(ctr "$IMAGE" --version)" = "$("$B/onestor" --version)"
check "container: onestor actions" test "$(ctr "$IMAGE" actions)" = "$("$B/onestor" actions)"
# The unit tests: the build's binary on the image's libraries (the .deb's dependencies, the
# downloader's opened ones included); the source tree read-only at its own path (a test reads
# src/). Three download cases make their fixtures with gzip, bzip2, xz, zstd, tar and zip,
# which the image rightly lacks: they run in the unit stage, not here.
FIXTURE_CASES="magic detection on files made by the real tools,pipeline: each compression and archive*,pipeline: archives must hold exactly one regular file"
OUT=$(ctr -v "$B/test/onestor_unit:/usr/local/bin/onestor_unit:ro" -v "$SRC:$SRC:ro" \
          --entrypoint /usr/local/bin/onestor_unit "$IMAGE" "--test-case-exclude=$FIXTURE_CASES" 2>&1); RC=$?
check "container: the unit tests pass ($(grep -o '[0-9]* passed' <<<"$OUT" | head -n1) test cases)" test "$RC" -eq 0
[ "$RC" -eq 0 ] || grep -E -A4 '^TEST CASE|ERROR|FATAL' <<<"$OUT" | head -n 80
stamp "container basics"

# ---- 5. an e2e suite with the container as the front-end ----------------------------------------
# ONESTOR_BIN is a script: `install-remotes DIR` runs the image's install-remotes into DIR and
# then puts itself at DIR/onestor, so every link of the tree runs the script, which runs the
# same link of the image's own tree (/usr/lib/onestor/remotes/<kind>/<driver>/<action>) in a
# container: host network (the test hosts listen on loopback addresses), the suite's
# directories bind-mounted at their paths, the ONESTOR_* environment passed on.
WRAP=$W/onestor-in-container
{
    echo '#!/bin/bash'
    printf 'P=(%s)\nRUN=(%s)\nIMAGE=%q\n' "$(printf '%q ' "${P[@]}")" "$(printf '%q ' "${RUN[@]}")" "$IMAGE"
    cat <<'SH'
args=(--network=host -i -v /tmp:/tmp -v /var/tmp:/var/tmp -v /var/lib/one/datastores:/var/lib/one/datastores --env 'ONESTOR_*')
if [ "$(basename "$0")" = onestor-in-container ] && [ "${1:-}" = install-remotes ]; then
    "${P[@]}" "${RUN[@]}" "${args[@]}" --entrypoint /usr/bin/onestor "$IMAGE" install-remotes "$2" || exit
    exec cp "$0" "$2/onestor"
fi
# The link's last three components name it in the image's own tree; a name that tree lacks
# (a suite's made-up link) runs the image's binary under that name, as a link would.
IFS=/ read -r -a parts <<<"$0"
n=${#parts[@]}
if [ "${parts[n-1]}" = onestor ] || [ "${parts[n-1]}" = onestor-in-container ]; then
    exec "${P[@]}" "${RUN[@]}" "${args[@]}" --entrypoint /usr/bin/onestor "$IMAGE" "$@"
fi
exec "${P[@]}" "${RUN[@]}" "${args[@]}" --entrypoint /bin/bash "$IMAGE" -c \
    't=/usr/lib/onestor/remotes/$1 a=$2; shift 2; if [ -L "$t" ]; then exec "$t" "$@"; else exec -a "$a" /usr/bin/onestor "$@"; fi' \
    onestor-in-container "${parts[n-3]}/${parts[n-2]}/${parts[n-1]}" "$0" "$@"
SH
} >"$WRAP"
chmod +x "$WRAP"
SUITE=test_shared_lifecycle
# Every SIGKILL sent while the suite runs, with its sender (the kernel's signal_generate event,
# in a tracing instance of our own): CI has seen containers of this run end by a SIGKILL that
# none of them sent; should it recur, the report names the sender.
TRACE=""
TFS=/sys/kernel/tracing
[ -d "$TFS/instances" ] || { mkdir -p "$W/tracefs" && mount -t tracefs nodev "$W/tracefs" 2>/dev/null && TFS=$W/tracefs; }
if [ -d "$TFS/instances" ] && mkdir "$TFS/instances/onestor-ctr-$$" 2>/dev/null; then
    TRACE=$TFS/instances/onestor-ctr-$$
    echo 'sig == 9' >"$TRACE/events/signal/signal_generate/filter" && echo 1 >"$TRACE/events/signal/signal_generate/enable" ||
        { rmdir "$TRACE"; TRACE=""; }
fi
e2e_start=$(date +%T)
ONESTOR_BIN=$WRAP ONESTOR_SRC=$SRC TESTHOSTS_PORT=${TESTHOSTS_PORT:-2350} \
    bash "$SRC/test/e2e/$SUITE.sh" >"$W/e2e.log" 2>&1
RC=$?
sed 's/^/#   /' "$W/e2e.log" | grep -E '^#   (FAIL|[0-9]+ passed)'
# A container ended by a signal (exit 137: SIGKILL) says nothing itself: when, and what the
# kernel said, for the report.
if grep -q '(exit 1[2-9][0-9])' "$W/e2e.log"; then
    echo "# a container ended by a signal; the suite ran $e2e_start - $(date +%T); the kernel's last words:"
    dmesg 2>/dev/null | tail -n 8 | sed 's/^/#   /'
    echo "# and podman's own kill, stop and refresh events, if it sent the signal:"
    find "$W/tmp" "$RR" -name events.log -exec grep -h -E '"Status":"(kill|stop|refresh|restart)"' {} + 2>/dev/null | tail -n 8 | sed 's/^/#   /'
    # (sent by a process, code=0, to another: not sshd's nor user-mode-linux's own children)
    [ -z "$TRACE" ] || { echo "# the SIGKILLs processes sent meanwhile (sender, then target):"
        grep 'code=0 ' "$TRACE/trace" | grep -v -E '^ *(sshd|linux\.uml)-' | tail -n 40 | sed 's/^/#   /'; }
fi
if [ -n "$TRACE" ]; then echo 0 >"$TRACE/events/signal/signal_generate/enable"; rmdir "$TRACE"; fi
[ "$TFS" != "$W/tracefs" ] || umount "$TFS"
counts=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$W/e2e.log" | tail -n1)
check "e2e $SUITE with the container as the front-end: $counts" \
    eval '[ "$RC" -eq 0 ] && [[ "$counts" == *" 0 failed" ]] && [[ "$counts" != "0 passed"* ]]'
stamp "e2e in the container"
finish

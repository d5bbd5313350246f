#!/usr/bin/env bash
# The example VM on TM_MAD=ssh: every host has its own local system datastore, so CREATE,
# STOP, RESUME, MIGRATE host01 -> host02 and SHUTDOWN really move bytes. Run in three
# transfer modes (onestor stream direct host-to-host, onestor stream relayed through the
# front-end, tar -S fallback). After each step the files exist only where they should,
# with the same checksums, and stay sparse; the VM's writes reach the persistent image.
source "$(dirname "$0")/lib.sh"
e2e_init "$@" ssh

SRC=$(mktemp -d /var/tmp/onestor-ssh.XXXXXX)
trap 'rm -rf "$SRC"; e2e_cleanup' EXIT
V=$DS/0/42
make_sparse "$SRC/os.img" 1024
head -c 3M /dev/urandom > "$SRC/data.img"
IMG0=$("$R/datastore/fs/cp" "$(ds_dump PATH="$SRC/os.img" SAFE_DIRS=/var/tmp RESTRICTED_DIRS=/)" 0 2>/dev/null)
IMG1=$("$R/datastore/fs/cp" "$(ds_dump PATH="$SRC/data.img" SAFE_DIRS=/var/tmp RESTRICTED_DIRS=/)" 1 2>/dev/null)
SUM0=$(sum "$IMG0")
BASE=$(cat "$ONESTOR_CONF")

# only_on PATH MACHINE...: PATH exists on exactly these machines (frontend, host01, host02)
only_on() {
    local p=$1; shift
    local m have want=" $* "
    for m in frontend host01 host02; do
        if [ "$m" = frontend ]; then test -e "$p" && have=1 || have=0; else on "$m" test -e "$p" && have=1 || have=0; fi
        if [[ "$want" == *" $m "* ]]; then [ "$have" = 1 ] || return 1; else [ "$have" = 0 ] || return 1; fi
    done
}
sum_at() { if [ "$1" = frontend ]; then sum "$2"; else sum_on "$1" "$2"; fi; }
kib_at() { if [ "$1" = frontend ]; then du -k "$2" | cut -f1; else on "$1" du -k "$2" | cut -f1; fi; }

lifecycle() {
    local mode=$1
    echo "# transfer mode: $mode"
    vm_xml 42 host01 ssh "0:YES:$IMG0:1024:1024:raw:ssh" "1:NO:$IMG1:3:3:raw:ssh"
    local p1
    p1=$(mktemp -p "$DS/1" persistent.XXXX) && cp "$IMG1" "$p1"
    # CREATE
    expect_ok "$mode: clone" "$R/tm/ssh/clone" "frontend:$IMG0" "host01:$V/disk.0" 42 1
    expect_ok "$mode: ln (a copy for ssh)" "$R/tm/ssh/ln" "frontend:$p1" "host01:$V/disk.1" 42 1
    expect_ok "$mode: mkswap" "$R/tm/ssh/mkswap" 8 "host01:$V/disk.3" 42 0
    check "$mode: CREATE: disk.0 only on host01" only_on "$V/disk.0" host01
    check "$mode: CREATE: same bytes" test "$(sum_on host01 "$V/disk.0")" = "$SUM0"
    check "$mode: CREATE: still sparse" test "$(kib_at host01 "$V/disk.0")" -lt 4096
    on host01 mkdir -p "$V/disk.0.snap" && on host01 cp "$V/disk.3" "$V/disk.0.snap/0"
    local s3; s3=$(sum_on host01 "$V/disk.3")
    # STOP
    for d in 0 1; do expect_ok "$mode: STOP mv disk.$d" "$R/tm/ssh/mv" "host01:$V/disk.$d" "frontend:$V/disk.$d" 42 1; done
    expect_ok "$mode: STOP mv dir" "$R/tm/ssh/mv" "host01:$V" "frontend:$V" 42 0
    check "$mode: STOP: the VM dir only on the front-end" only_on "$V" frontend
    check "$mode: STOP: same bytes, sparse" test "$(sum "$V/disk.0")" = "$SUM0" -a "$(kib_at frontend "$V/disk.0")" -lt 4096
    check "$mode: STOP: disk.0.snap/ travelled" test "$(sum "$V/disk.0.snap/0")" = "$s3"
    # RESUME
    expect_ok "$mode: RESUME mv dir" "$R/tm/ssh/mv" "frontend:$V" "host01:$V" 42 0
    check "$mode: RESUME: only on host01" only_on "$V" host01
    check "$mode: RESUME: same bytes" test "$(sum_on host01 "$V/disk.0")" = "$SUM0"
    # MIGRATE
    expect_ok "$mode: MIGRATE mv dir" "$R/tm/ssh/mv" "host01:$V" "host02:$V" 42 0
    check "$mode: MIGRATE: only on host02" only_on "$V" host02
    check "$mode: MIGRATE: same bytes, sparse" test "$(sum_on host02 "$V/disk.0")" = "$SUM0" -a "$(kib_at host02 "$V/disk.0")" -lt 4096
    check "$mode: MIGRATE: swap disk too" test "$(sum_on host02 "$V/disk.3")" = "$s3"
    printf 'written on host02 (%s)' "$mode" | on host02 dd of="$V/disk.1" bs=1k seek=100 conv=notrunc status=none
    local ino; ino=$(stat -c %i "$p1")
    # SHUTDOWN
    expect_ok "$mode: delete disk.0" "$R/tm/ssh/delete" "host02:$V/disk.0" 42 1
    expect_ok "$mode: mvds disk.1" "$R/tm/ssh/mvds" "host02:$V/disk.1" "$p1" 42 1
    expect_ok "$mode: delete dir" "$R/tm/ssh/delete" "host02:$V" 42 0
    check "$mode: SHUTDOWN: the VM is gone everywhere" only_on "$V"
    local want; want=$(printf 'written on host02 (%s)' "$mode")
    check "$mode: the VM's write reached the persistent image" \
        test "$(dd if="$p1" bs=1k skip=100 count=1 status=none | head -c ${#want})" = "$want"
    check "$mode: mvds replaced the image by rename, not in place" test "$(stat -c %i "$p1")" != "$ino"
    check "$mode: the non-persistent image is unchanged" test "$(sum "$IMG0")" = "$SUM0"
    check "$mode: no temporary files anywhere" \
        test -z "$(find "$DS" "$T/hosts/host01" "$T/hosts/host02" -name '*onestor-tmp*' 2>/dev/null)"
    rm -f "$p1"
}

printf '%s\nREMOTE_ONESTOR=%s\nHOST_SSH=ssh -F %s\nHOST_TO_HOST=direct\n' "$BASE" "$R/onestor" "$T/hosts/ssh_config" > "$ONESTOR_CONF"
lifecycle "stream direct"
printf '%s\nREMOTE_ONESTOR=%s\nHOST_TO_HOST=relay\n' "$BASE" "$R/onestor" > "$ONESTOR_CONF"
lifecycle "stream relay"
printf '%s\nREMOTE_ONESTOR=/nonexistent/onestor\nHOST_SSH=ssh -F %s\n' "$BASE" "$T/hosts/ssh_config" > "$ONESTOR_CONF"
lifecycle "tar fallback"

# ---- the other ssh actions (stream mode) ---------------------------------------------------
printf '%s\nREMOTE_ONESTOR=%s\nHOST_SSH=ssh -F %s\n' "$BASE" "$R/onestor" "$T/hosts/ssh_config" > "$ONESTOR_CONF"
vm_xml 44 host01 ssh "0:YES:$IMG0:1024:1024:raw:ssh"
W=$DS/0/44
expect_ok "clone" "$R/tm/ssh/clone" "frontend:$IMG0" "host01:$W/disk.0" 44 1
expect_ok "snap_create 0" "$R/tm/ssh/snap_create" "host01:$W/disk.0" 0 44 1
printf 'changed' | on host01 dd of="$W/disk.0" conv=notrunc status=none
expect_ok "cpds of the current state" "$R/tm/ssh/cpds" "host01:$W/disk.0" "$DS/1/saved-now" -1 44 1
check "cpds brought the changed disk to the front-end" test "$(sum "$DS/1/saved-now")" = "$(sum_on host01 "$W/disk.0")"
expect_ok "cpds of snapshot 0" "$R/tm/ssh/cpds" "host01:$W/disk.0" "$DS/1/saved-0" 0 44 1
check "cpds of a snapshot brings its bytes" test "$(sum "$DS/1/saved-0")" = "$SUM0"
expect_ok "snap_revert 0" "$R/tm/ssh/snap_revert" "host01:$W/disk.0" 0 44 1
check "revert restored the snapshot" test "$(sum_on host01 "$W/disk.0")" = "$SUM0"
expect_ok "snap_delete 0" "$R/tm/ssh/snap_delete" "host01:$W/disk.0" 0 44 1
check "snapshot gone" test -z "$(on host01 ls "$W/disk.0.snap")"
expect_error "snap_create_live" "ssh: snap_create_live is not supported" "$R/tm/ssh/snap_create_live" "host01:$W/disk.0" 1 44 1
echo ctx > "$SRC/ctx.sh"
expect_ok "context on host01" "$R/tm/ssh/context" "$SRC/ctx.sh" "host01:$W/disk.1" 44 0
check "the context ISO is labelled CONTEXT" on host01 sh -c "isoinfo -d -i $W/disk.1 | grep -q 'Volume id: CONTEXT'"
expect_ok "mkimage" "$R/tm/ssh/mkimage" 16 raw "host01:$W/disk.2" 44 0
check "mkimage size" test "$(on host01 stat -c %s "$W/disk.2")" = $((16 << 20))
OUT=$(on host01 "$R/onestor" tm ssh monitor_ds "$DS/0")
check "monitor_ds: usage lines" grep -qE '^FREE_MB=[0-9]+$' <<<"$OUT"
line=$(grep '^VM = \[ ID = 44, MONITOR = "' <<<"$OUT" | sed -E 's/.*MONITOR = "([^"]*)".*/\1/')
check "monitor_ds: VM 44's disk sizes" grep -q 'DISK_SIZE=\[ID=0,SIZE=' <<<"$(base64 -d <<<"$line")"
# shared image datastore + ssh system datastore: ln.ssh copies, mvds.ssh brings it back
vm_xml 45 host02 ssh "1:NO:$IMG1:3:3:raw:shared"
p2=$DS/1/persistent-45 && cp "$IMG1" "$p2"
expect_ok "shared ln.ssh" "$R/tm/shared/ln.ssh" "frontend:$p2" "host02:$DS/0/45/disk.1" 45 1
check "ln.ssh made a local copy on host02" test "$(sum_on host02 "$DS/0/45/disk.1")" = "$(sum "$p2")"
printf 'host02 wrote' | on host02 dd of="$DS/0/45/disk.1" conv=notrunc status=none
expect_ok "shared mvds.ssh" "$R/tm/shared/mvds.ssh" "host02:$DS/0/45/disk.1" "$p2" 45 1
check "mvds.ssh brought the writes back" test "$(head -c 12 "$p2")" = "host02 wrote"
check "mvds.ssh removed the host's copy" only_on "$DS/0/45/disk.1"
e2e_finish

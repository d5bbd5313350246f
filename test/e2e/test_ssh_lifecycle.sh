#!/usr/bin/env bash
# The example VM of the storage-driver guide on TM_MAD=ssh: every host has its own local
# system datastore, so CREATE, STOP, RESUME, MIGRATE host01 -> host02 and SHUTDOWN really
# move bytes. VM 42, system DS 0, image DS 1; disk.0 non-persistent (clone) of a 1 GiB
# sparse image, disk.1 persistent (ln) with a snapshot of its own. The whole oned sequence
# (per-disk mv, then the directory's) runs in four transfer modes: the onestor stream and
# the tar -S fallback (REMOTE_ONESTOR=/nonexistent), each host-to-host direct and relayed
# through the front-end. After each step every file exists only where it should (front-end,
# host01, host02), with the same bytes, still sparse; the VM's writes reach the persistent
# image by rename. Then cpds, snapshots, monitor_ds, context, mkimage and mkswap on a host.
source "$(dirname "$0")/lib.sh"
e2e_init "$@" ssh
ssh_mux

SRC=$(mktemp -d /var/tmp/onestor-ssh.XXXXXX)
trap 'rm -rf "$SRC"; e2e_cleanup' EXIT
V=$DS/0/42
BASE=$(cat "$ONESTOR_CONF")

# Where each machine keeps $DS: the front-end's own view, and the directory each host's
# sshd bind-mounted over its $DS when it started (so checks need no ssh round trip).
ssum() { sparse_sum "$(at "$1" "$2")"; }
kib() { du -k "$(at "$1" "$2")" | cut -f1; }
mode_conf() {  # mode_conf stream|tar direct|relay
    local r=$R/onestor
    [ "$1" = tar ] && r=/nonexistent/onestor
    printf '%s\nREMOTE_ONESTOR=%s\nHOST_TO_HOST=%s\nHOST_SSH=ssh -F %s\n' "$BASE" "$r" "$2" "$T/hosts/ssh_config" > "$ONESTOR_CONF"
}

# ---- the images: a 1 GiB sparse OS image, a persistent 64 MiB sparse data image ------------
make_sparse "$SRC/os.img" 1024
make_sparse "$SRC/data.img" 64
IMG0=$("$R/datastore/fs/cp" "$(ds_dump PATH="$SRC/os.img" SAFE_DIRS=/var/tmp RESTRICTED_DIRS=/)" 0 2>/dev/null)
IMG1=$("$R/datastore/fs/cp" "$(ds_dump PATH="$SRC/data.img" SAFE_DIRS=/var/tmp RESTRICTED_DIRS=/)" 1 2>/dev/null)
check "two images registered on the front-end" test -f "$IMG0" -a -f "$IMG1"
SUM0=$(sparse_sum "$IMG0")
check "the 1 GiB image is sparse (a few MiB of data)" test "$(du -k "$IMG0" | cut -f1)" -lt 4096
# The checksum helper itself: blind to allocation, not to bytes.
cp --sparse=never "$IMG0" "$SRC/full.img" && cp "$IMG0" "$SRC/poked.img"
printf 'x' | dd of="$SRC/poked.img" bs=1 seek=$((700 << 20)) conv=notrunc status=none
check "sparse_sum: same for a fully allocated copy" test "$(sparse_sum "$SRC/full.img")" = "$SUM0"
check "sparse_sum: one byte in a hole changes it" test "$(sparse_sum "$SRC/poked.img")" != "$SUM0"
check "sparse_sum: agrees with the host's view" test "$(sparse_sum_on host01 "$SRC/os.img")" = "$(sparse_sum "$SRC/os.img")"
rm -f "$SRC/full.img" "$SRC/poked.img"

lifecycle() {
    local xfer=$1 h2h=$2 m="$1 $2"
    echo "# transfer mode: $m"
    mode_conf "$xfer" "$h2h"
    local P1; P1=$(mktemp -p "$DS/1" "persistent-$xfer-$h2h.XXXX") && cp --sparse=always "$IMG1" "$P1"
    local sum1; sum1=$(sparse_sum "$P1")
    vm_xml 42 host01 ssh "0:YES:$IMG0:1024:1024:raw:ssh" "1:NO:$P1:64:64:raw:ssh"
    local step f s

    # CREATE
    expect_conns 1 0 "$m: clone frontend -> host01 disk.0" "$R/tm/ssh/clone" "frontend:$IMG0" "host01:$V/disk.0" 42 1
    check "$m: clone printed nothing" test -z "$OUT"
    expect_conns 1 0 "$m: ln frontend -> host01 disk.1 (a copy on ssh)" "$R/tm/ssh/ln" "frontend:$P1" "host01:$V/disk.1" 42 1
    expect_conns 1 0 "$m: snapshot 0 of disk.1 on host01" "$R/tm/ssh/snap_create" "host01:$V/disk.1" 0 42 1
    check "$m: CREATE: the VM dir only on host01" only_on "$V" host01
    check "$m: CREATE: disk.0 has the image's bytes" test "$(ssum host01 "$V/disk.0")" = "$SUM0"
    check "$m: CREATE: disk.0 is 1 GiB but sparse" test "$(stat -c %s "$(at host01 "$V/disk.0")")" = $((1 << 30)) -a "$(kib host01 "$V/disk.0")" -lt 4096
    check "$m: CREATE: host01 sees the same disk.0" test "$(sparse_sum_on host01 "$V/disk.0")" = "$SUM0"
    check "$m: CREATE: disk.1 is a copy of the persistent image, not a link" \
        test ! -L "$(at host01 "$V/disk.1")" -a "$(ssum host01 "$V/disk.1")" = "$sum1"
    check "$m: CREATE: disk.1.snap/0 is a full copy" test "$(ssum host01 "$V/disk.1.snap/0")" = "$sum1"
    check "$m: CREATE: the images are untouched" test "$(sparse_sum "$IMG0")" = "$SUM0" -a "$(sparse_sum "$P1")" = "$sum1"

    # A file in the VM dir made setuid, setgid and world-writable (and the dir sticky): every
    # move delivers it with none of those bits, whichever way it travels.
    printf 'tool' >"$(at host01 "$V/tool")"
    chmod 6777 "$(at host01 "$V/tool")"
    chmod 1777 "$(at host01 "$V")"

    # STOP, RESUME, MIGRATE: per-disk mv (nothing moves), then the directory's mv
    for step in "STOP host01 frontend" "RESUME frontend host01" "MIGRATE host01 host02"; do
        set -- $step
        for d in 0 1; do
            expect_conns 0 0 "$m: $1 mv disk.$d $2 -> $3" "$R/tm/ssh/mv" "$2:$V/disk.$d" "$3:$V/disk.$d" 42 1
        done
        check "$m: $1: per-disk mv left everything on $2" only_on "$V/disk.0" "$2"
        # one connection to each host that holds or gets data; host to host in direct mode
        # the source host's own. The tar fallback first tries the stream (a connection from
        # host01 to host02 more) and checks what arrived from the front-end (one more).
        local h2=0; [ "$3" = host02 ] && h2=1; [ "$3" = host02 ] && [ "$m" = "tar direct" ] && h2=3
        expect_conns 1 "$h2" "$m: $1 mv dir $2 -> $3" "$R/tm/ssh/mv" "$2:$V" "$3:$V" 42 0
        if [ "$xfer" = tar ]; then
            check "$m: $1 went by tar -S" grep -q 'falling back to tar -S' <<<"$ERR"
        else
            check "$m: $1 went by the onestor stream" test -z "$(grep 'falling back' <<<"$ERR")"
        fi
        check "$m: $1: the VM dir only on $3" only_on "$V" "$3"
        check "$m: $1: disk.0 same bytes" test "$(ssum "$3" "$V/disk.0")" = "$SUM0"
        check "$m: $1: disk.0 still 1 GiB and sparse" test "$(stat -c %s "$(at "$3" "$V/disk.0")")" = $((1 << 30)) -a "$(kib "$3" "$V/disk.0")" -lt 4096
        check "$m: $1: disk.1 same bytes" test "$(ssum "$3" "$V/disk.1")" = "$sum1"
        check "$m: $1: disk.1.snap/ travelled" test "$(ssum "$3" "$V/disk.1.snap/0")" = "$sum1"
        # (but the datastore's .monitor marker, which the host probes read: it stays, as upstream's)
        check "$m: $1: nothing left under $2's datastore 0" test -z "$(ls -A "$(at "$2" "$DS/0")" | grep -vx .monitor)"
        check "$m: $1: nothing arrived setuid, setgid, sticky or world-writable" \
            test -f "$(at "$3" "$V/tool")" -a -z "$(find "$(at "$3" "$V")" -perm /7002)"
    done
    check "$m: MIGRATE: host02 sees its copy" test "$(sparse_sum_on host02 "$V/disk.0")" = "$SUM0"
    if [ "$h2h" = direct ]; then
        check "$m: MIGRATE went host to host" grep -q 'streaming from host01 to host02 directly' <<<"$ERR"
    else
        check "$m: MIGRATE went through the front-end" grep -q 'relaying from host01 to host02 through the front-end' <<<"$ERR"
    fi

    # the VM writes to its persistent disk on host02
    printf 'written on host02 (%s)' "$m" | on host02 dd of="$V/disk.1" bs=1k seek=2000 conv=notrunc status=none
    cp --sparse=always "$P1" "$SRC/expect"
    printf 'written on host02 (%s)' "$m" | dd of="$SRC/expect" bs=1k seek=2000 conv=notrunc status=none
    local ino; ino=$(stat -c %i "$P1")

    # SHUTDOWN
    expect_conns 0 1 "$m: delete disk.0 on host02" "$R/tm/ssh/delete" "host02:$V/disk.0" 42 1
    check "$m: disk.0 gone, disk.1 kept" test ! -e "$(at host02 "$V/disk.0")" -a -f "$(at host02 "$V/disk.1")"
    expect_conns 0 1 "$m: mvds disk.1 -> the persistent image" "$R/tm/ssh/mvds" "host02:$V/disk.1" "$P1" 42 1
    check "$m: the persistent image holds the VM's write" test "$(sparse_sum "$P1")" = "$(sparse_sum "$SRC/expect")"
    check "$m: the persistent image stayed sparse" test "$(du -k "$P1" | cut -f1)" -lt 2048
    check "$m: mvds replaced the image by rename (new inode)" test "$(stat -c %i "$P1")" != "$ino"
    check "$m: mvds brought disk.1.snap/ beside the image" test "$(sparse_sum "$P1.snap/0")" = "$sum1"
    check "$m: mvds removed the host's copy" test ! -e "$(at host02 "$V/disk.1")" -a ! -e "$(at host02 "$V/disk.1.snap")"
    expect_conns 0 1 "$m: delete the VM dir on host02" "$R/tm/ssh/delete" "host02:$V" 42 0
    check "$m: SHUTDOWN: the VM dir is gone everywhere" only_on "$V"
    check "$m: the non-persistent image is unchanged" test "$(sparse_sum "$IMG0")" = "$SUM0"
    check "$m: no temporary files anywhere" no_temps
    rm -rf "$P1" "$P1.snap" "$SRC/expect"
}

lifecycle stream direct
lifecycle stream relay
lifecycle tar direct
lifecycle tar relay

# ---- connections kept across actions (SSH_CONTROL_PERSIST) ----------------------------------
# The front-end keeps one connection per host, and in direct mode each source host keeps its
# own to the destination: once made, no action makes another. Concurrent actions make one;
# a master killed with SIGKILL (its socket left behind) is replaced by exactly one.
mode_conf stream direct
sed -i '/^SSH_CONTROL_PERSIST=/d' "$ONESTOR_CONF"  # the default: kept (70 s)
masters() {  # masters KIND HOST: the kept ssh masters of this suite (fe: the front-end's, host: the hosts')
    local p='[0-9a-f]{16}'
    [ "$1" = host ] && p='host-[0-9]+'
    pgrep -f "^ssh -F $T/hosts/ssh_config .*ControlPath=/tmp/onestor-ssh-[0-9]+/$p -o ControlMaster=yes .* -N $2\$"
}
U=$DS/0/47
vm_xml 47 host01 ssh "0:YES:$IMG0:1024:1024:raw:ssh"
for i in 1 2 3 4; do vm_xml "5$i" host01 ssh "0:YES:$IMG1:64:64:raw:ssh"; done
c1=$(connections host01)
for i in 1 2 3 4; do "$R/tm/ssh/clone" "frontend:$IMG1" "host01:$DS/0/5$i/disk.0" "5$i" 1 2>"$T/par.$i" & done
wait
check "kept: 4 clones at once made one connection to host01 ($(($(connections host01) - c1)))" test "$(($(connections host01) - c1))" = 1
check "kept: one master for host01 on the front-end" test "$(masters fe host01 | wc -l)" = 1
check "kept: the 4 clones arrived" test "$(for i in 1 2 3 4; do ssum host01 "$DS/0/5$i/disk.0"; done | sort -u)" = "$(sparse_sum "$IMG1")"
expect_conns 0 0 "kept: clone frontend -> host01" "$R/tm/ssh/clone" "frontend:$IMG0" "host01:$U/disk.0" 47 1
expect_conns 0 1 "kept: mv host01 -> host02 (host01's own connection to host02)" "$R/tm/ssh/mv" "host01:$U" "host02:$U" 47 0
check "kept: host01 keeps one master for host02" test "$(masters host host02 | wc -l)" = 1
expect_conns 1 1 "kept: mv host02 -> host01 (the front-end's to host02, host02's to host01)" "$R/tm/ssh/mv" "host02:$U" "host01:$U" 47 0
expect_conns 0 0 "kept: mv host01 -> host02 again" "$R/tm/ssh/mv" "host01:$U" "host02:$U" 47 0
expect_conns 0 0 "kept: mv host02 -> frontend" "$R/tm/ssh/mv" "host02:$U" "frontend:$U" 47 0
expect_conns 0 0 "kept: mv frontend -> host02" "$R/tm/ssh/mv" "frontend:$U" "host02:$U" 47 0
check "kept: disk.0 arrived whole" test "$(ssum host02 "$U/disk.0")" = "$SUM0"
for i in 1 2; do vm_xml "6$i" host01 ssh; mkdir -p "$(at host01 "$DS/0/6$i")" && cp "$IMG1" "$(at host01 "$DS/0/6$i/disk.0")"; done
killed=$(masters fe host01; masters host host02)
socks=$(for p in $killed; do tr '\0' '\n' < "/proc/$p/cmdline" | sed -n 's/^ControlPath=//p'; done)
kill -KILL $killed
sleep 0.2
check "kept: the two killed masters left their sockets" test "$(for f in $socks; do [ -S "$f" ] && echo "$f"; done | wc -l)" = 2
c1=$(connections host01) c2=$(connections host02)
for i in 1 2; do "$R/tm/ssh/mv" "host01:$DS/0/6$i" "host02:$DS/0/6$i" "6$i" 0 2>"$T/par.$i" & done
wait
check "kept: after the kill, two moves at once made one connection to each host ($(($(connections host01) - c1)), $(($(connections host02) - c2)))" \
    test "$(($(connections host01) - c1))" = 1 -a "$(($(connections host02) - c2))" = 1
check "kept: the two moves arrived" test "$(ssum host02 "$DS/0/61/disk.0")" = "$(sparse_sum "$IMG1")" -a "$(ssum host02 "$DS/0/62/disk.0")" = "$(sparse_sum "$IMG1")"
check "kept: again one master each (none left without a socket)" test "$(masters fe host01 | wc -l)" = 1 -a "$(masters host host02 | wc -l)" = 1
check "kept: the new masters answer on the old sockets" test "$(for f in $socks; do ssh -O check -o "ControlPath=$f" x 2>/dev/null && echo "$f"; done | wc -l)" = 2
for v in 47 51 52 53 54 61 62; do rm -rf "$(at host01 "$DS/0/$v")" "$(at host02 "$DS/0/$v")"; done
kill $(masters fe host01) $(masters fe host02) $(masters host host02) $(masters host host01) 2>/dev/null

# ---- the other ssh actions (stream, direct) ------------------------------------------------
mode_conf stream direct
vm_xml 44 host01 ssh "0:YES:$IMG0:1024:1024:raw:ssh"
W=$DS/0/44
expect_ok "clone for VM 44" "$R/tm/ssh/clone" "frontend:$IMG0" "host01:$W/disk.0" 44 1
expect_ok "snap_create 0" "$R/tm/ssh/snap_create" "host01:$W/disk.0" 0 44 1
S0=$(at host01 "$W/disk.0.snap/0")
check "snapshot 0: a full copy (own inode), same bytes" \
    test -f "$S0" -a ! -L "$S0" -a "$(stat -c %i "$S0")" != "$(stat -c %i "$(at host01 "$W/disk.0")")" -a "$(sparse_sum "$S0")" = "$SUM0"
check "snapshot 0: sparse" test "$(du -k "$S0" | cut -f1)" -lt 4096
expect_error "snap_create of an existing id" "already exists" "$R/tm/ssh/snap_create" "host01:$W/disk.0" 0 44 1
printf 'changed by the VM' | on host01 dd of="$W/disk.0" bs=1M seek=512 conv=notrunc status=none
CHANGED=$(ssum host01 "$W/disk.0")
check "the disk changed" test "$CHANGED" != "$SUM0"
expect_ok "snap_create 1" "$R/tm/ssh/snap_create" "host01:$W/disk.0" 1 44 1
check "snapshot 1 holds the changed bytes, snapshot 0 the old ones" \
    test "$(ssum host01 "$W/disk.0.snap/1")" = "$CHANGED" -a "$(sparse_sum "$S0")" = "$SUM0"
expect_ok "cpds -1 (the current disk) to a new SOURCE" "$R/tm/ssh/cpds" "host01:$W/disk.0" "$DS/1/saved-now" -1 44 1
check "cpds -1: the new image has the current bytes" test "$(sparse_sum "$DS/1/saved-now")" = "$CHANGED"
check "cpds -1: sparse on the front-end" test "$(du -k "$DS/1/saved-now" | cut -f1)" -lt 4096
check "cpds -1: the disk itself is untouched" test "$(ssum host01 "$W/disk.0")" = "$CHANGED"
expect_ok "cpds of snapshot 0" "$R/tm/ssh/cpds" "host01:$W/disk.0" "$DS/1/saved-0" 0 44 1
check "cpds 0: the snapshot's bytes, not the disk's" test "$(sparse_sum "$DS/1/saved-0")" = "$SUM0"
expect_error "cpds of a missing snapshot" "does not exist" "$R/tm/ssh/cpds" "host01:$W/disk.0" "$DS/1/saved-7" 7 44 1
check "cpds of a missing snapshot made no file" test ! -e "$DS/1/saved-7"
expect_ok "snap_revert 0" "$R/tm/ssh/snap_revert" "host01:$W/disk.0" 0 44 1
check "revert restored snapshot 0's bytes" test "$(ssum host01 "$W/disk.0")" = "$SUM0"
check "revert kept both snapshots" test "$(sparse_sum "$S0")" = "$SUM0" -a "$(ssum host01 "$W/disk.0.snap/1")" = "$CHANGED"
expect_ok "snap_revert 1" "$R/tm/ssh/snap_revert" "host01:$W/disk.0" 1 44 1
check "revert to 1 brought the change back" test "$(ssum host01 "$W/disk.0")" = "$CHANGED"
expect_error "snap_revert of a missing snapshot" "does not exist" "$R/tm/ssh/snap_revert" "host01:$W/disk.0" 5 44 1
expect_ok "snap_delete 1" "$R/tm/ssh/snap_delete" "host01:$W/disk.0" 1 44 1
check "snapshot 1 gone, 0 kept" test "$(ls "$(at host01 "$W/disk.0.snap")")" = 0
expect_error "snap_delete of a missing snapshot" "does not exist" "$R/tm/ssh/snap_delete" "host01:$W/disk.0" 1 44 1
# (a live snapshot is libvirt's copy of the running disk: test_qcow2_live.sh; here no domain runs)
expect_error "snap_create_live without a running domain" "cannot suspend domain 'one-44'" "$R/tm/ssh/snap_create_live" "host01:$W/disk.0" 2 44 1

# context, mkimage, mkswap on host01
echo "ONE=1" > "$SRC/context.sh"
printf '#!/bin/sh\necho hi\n' > "$SRC/init.sh"
expect_ok "context on host01" "$R/tm/ssh/context" "$SRC/context.sh" "$SRC/init.sh:'start me.sh'" "host01:$W/disk.1" 44 0
check "context: an ISO labelled CONTEXT on host01" sh -c "isoinfo -d -i '$(at host01 "$W/disk.1")' | grep -q '^Volume id: CONTEXT$'"
check "context: context.sh inside with its bytes" test "$(on host01 isoinfo -R -i "$W/disk.1" -x /context.sh)" = "ONE=1"
check "context: a path:'name' file under its name" test "$(isoinfo -R -i "$(at host01 "$W/disk.1")" -x "/start me.sh" | tail -n1)" = "echo hi"
check "context: only on host01" only_on "$W/disk.1" host01
expect_ok "mkimage raw 16 MiB" "$R/tm/ssh/mkimage" 16 raw "host01:$W/disk.2" 44 0
check "mkimage raw: 16 MiB on host01, sparse" test "$(on host01 stat -c %s "$W/disk.2")" = $((16 << 20)) -a "$(kib host01 "$W/disk.2")" -lt 1024
expect_ok "mkimage qcow2 32 MiB" "$R/tm/ssh/mkimage" 32 qcow2 "host01:$W/disk.3" 44 0
check "mkimage qcow2: a qcow2 of 32 MiB" sh -c "qemu-img info --output=json '$(at host01 "$W/disk.3")' | tr -d ' \n' | grep -q '\"virtual-size\":$((32 << 20)),.*\"format\":\"qcow2\"'"
expect_ok "mkswap 8 MiB" "$R/tm/ssh/mkswap" 8 "host01:$W/disk.4" 44 0
check "mkswap: a swap signature" test "$(dd if="$(at host01 "$W/disk.4")" bs=1 skip=4086 count=10 status=none)" = SWAPSPACE2
check "volatile disks only on host01" only_on "$W/disk.4" host01

# monitor_ds on the host itself
OUT=$(on host01 "$R/onestor" tm ssh monitor_ds "$DS/0"); RC=$?
check "monitor_ds exits 0" test "$RC" = 0
for k in USED_MB TOTAL_MB FREE_MB; do check "monitor_ds prints $k" grep -qE "^$k=[0-9]+\$" <<<"$OUT"; done
TOTAL=$(sed -n 's/^TOTAL_MB=//p' <<<"$OUT")
DF=$(on host01 df -m --output=size "$DS/0" | tail -n1 | tr -d ' ')
check "monitor_ds: TOTAL_MB is the host filesystem's size ($TOTAL ~ $DF)" test "$TOTAL" -ge $((DF - 1)) -a "$TOTAL" -le $((DF + 1))
check "monitor_ds: one VM line, for VM 44" test "$(grep -c '^VM = ' <<<"$OUT")" = 1
B64=$(sed -nE 's/^VM = \[ ID = 44, MONITOR = "([A-Za-z0-9+\/=]+)" \]$/\1/p' <<<"$OUT")
POLL=$(base64 -d <<<"$B64" 2>/dev/null)
echo "# VM 44 MONITOR: $POLL"
MB0=$(( ($(stat -c %b "$(at host01 "$W/disk.0")") * 512 + 1048575) / 1048576 ))
check "monitor_ds: DISK_SIZE of disk.0 is its allocated MiB ($MB0)" grep -q "DISK_SIZE=\[ID=0,SIZE=$MB0\]" <<<"$POLL"
check "monitor_ds: DISK_SIZE of the volatile disks" grep -q 'DISK_SIZE=\[ID=4,SIZE=[0-9]*\]' <<<"$POLL"
check "monitor_ds: SNAPSHOT_SIZE of snapshot 0" grep -q 'SNAPSHOT_SIZE=\[ID=0,DISK_ID=0,SIZE=[0-9]*\]' <<<"$POLL"
expect_ok "delete VM 44" "$R/tm/ssh/delete" "host01:$W" 44 0
check "VM 44 gone from host01" only_on "$W"

# clone with DISK/SIZE above ORIGINAL_SIZE: grown on the host, data kept, still sparse
vm_xml 46 host02 ssh "0:YES:$IMG0:2048:1024:raw:ssh"
expect_ok "clone with a bigger SIZE" "$R/tm/ssh/clone" "frontend:$IMG0" "host02:$DS/0/46/disk.0" 46 1
check "clone: grown to 2 GiB on host02" test "$(stat -c %s "$(at host02 "$DS/0/46/disk.0")")" = $((2 << 30))
check "clone: the image's bytes in the first GiB" test "$(head -c 1G "$(at host02 "$DS/0/46/disk.0")" | md5sum)" = "$(md5sum < "$IMG0")"
check "clone: still sparse" test "$(kib host02 "$DS/0/46/disk.0")" -lt 4096
expect_ok "delete VM 46" "$R/tm/ssh/delete" "host02:$DS/0/46" 46 0
# SPARSE=NO (7.x): the copy on the host gets all its space, then grows with all of it.
VM_DISK_EXTRA='<SPARSE>NO</SPARSE>' vm_xml 46 host02 ssh "0:YES:$IMG0:1100:1024:raw:ssh"
expect_ok "clone of a SPARSE=NO disk to host02" "$R/tm/ssh/clone" "frontend:$IMG0" "host02:$DS/0/46/disk.0" 46 1
check "SPARSE=NO: 1100 MiB on host02, every byte allocated" thick "$(at host02 "$DS/0/46/disk.0")" $((1100 << 20))
check "SPARSE=NO: the image's bytes in the first GiB" test "$(head -c 1G "$(at host02 "$DS/0/46/disk.0")" | md5sum)" = "$(md5sum < "$IMG0")"
expect_ok "delete VM 46 (SPARSE=NO)" "$R/tm/ssh/delete" "host02:$DS/0/46" 46 0

# shared image datastore + ssh system datastore: ln.ssh copies, mvds.ssh brings it back
vm_xml 45 host02 ssh "1:NO:$IMG1:64:64:raw:shared"
p2=$DS/1/persistent-45 && cp "$IMG1" "$p2"
expect_ok "shared ln.ssh" "$R/tm/shared/ln.ssh" "frontend:$p2" "host02:$DS/0/45/disk.1" 45 1
check "ln.ssh made a local copy on host02" test "$(ssum host02 "$DS/0/45/disk.1")" = "$(sparse_sum "$p2")"
printf 'host02 wrote' | on host02 dd of="$DS/0/45/disk.1" conv=notrunc status=none
expect_ok "shared mvds.ssh" "$R/tm/shared/mvds.ssh" "host02:$DS/0/45/disk.1" "$p2" 45 1
check "mvds.ssh brought the writes back" test "$(head -c 12 "$p2")" = "host02 wrote"
check "mvds.ssh removed the host's copy" only_on "$DS/0/45/disk.1"
# onestor missing on a host: the transfer copies this binary there once (REMOTE_ONESTOR_INSTALL),
# kept only when it runs there, then streams with its checksum; else tar, as before.
RB=$T/remote-bin/onestor
printf '%s\nREMOTE_ONESTOR=%s\nREMOTE_ONESTOR_INSTALL=yes\nHOST_TO_HOST=direct\nHOST_SSH=ssh -F %s\n' \
    "$(grep -v '^REMOTE_ONESTOR_INSTALL=' <<<"$BASE")" "$RB" "$T/hosts/ssh_config" >"$ONESTOR_CONF"
vm_xml 70 host01 ssh "0:YES:$IMG1:64:64:raw:ssh"
expect_ok "no onestor on host01: clone" "$R/tm/ssh/clone" "frontend:$IMG1" "host01:$DS/0/70/disk.0" 70 1
check "... installs it once, then streams (no tar)" eval \
    '[ "$(grep -c "onestor was missing on host01: installed" <<<"$ERR")" = 1 ] && ! grep -q "falling back to tar" <<<"$ERR"'
check "... the installed binary is this one, executable" eval 'cmp -s "$RB" "$ONESTOR_BIN" && [ -x "$RB" ]'
check "... the disk arrived whole" test "$(ssum host01 "$DS/0/70/disk.0")" = "$(sparse_sum "$IMG1")"
expect_ok "the next transfer (host01 -> host02)" "$R/tm/ssh/mv" "host01:$DS/0/70" "host02:$DS/0/70" 70 0
check "... installs nothing again" eval '! grep -q "installed" <<<"$ERR" && [ "$(ssum host02 "$DS/0/70/disk.0")" = "$(sparse_sum "$IMG1")" ]'
sed -i "s|^REMOTE_ONESTOR=.*|REMOTE_ONESTOR=/proc/onestor-nowhere/onestor|" "$ONESTOR_CONF"
expect_ok "where it cannot be installed: tar" "$R/tm/ssh/mv" "host02:$DS/0/70" "host01:$DS/0/70" 70 0
check "... says why, then falls back to tar, the disk whole" eval \
    'grep -q "could not install onestor on" <<<"$ERR" && grep -q "falling back to tar" <<<"$ERR" && [ "$(ssum host01 "$DS/0/70/disk.0")" = "$(sparse_sum "$IMG1")" ]'
sed -i -e "s|^REMOTE_ONESTOR=.*|REMOTE_ONESTOR=$T/remote-bin2/onestor|" -e "s|^REMOTE_ONESTOR_INSTALL=.*|REMOTE_ONESTOR_INSTALL=no|" "$ONESTOR_CONF"
expect_ok "REMOTE_ONESTOR_INSTALL=no: tar" "$R/tm/ssh/mv" "host01:$DS/0/70" "host02:$DS/0/70" 70 0
check "... nothing installed" eval 'grep -q "falling back to tar" <<<"$ERR" && [ ! -e "$T/remote-bin2" ]'
expect_ok "delete VM 70" "$R/tm/ssh/delete" "host02:$DS/0/70" 70 0
echo "$BASE" >"$ONESTOR_CONF"
check "no temporary files anywhere at the end" no_temps
e2e_finish

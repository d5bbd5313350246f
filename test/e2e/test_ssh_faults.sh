#!/usr/bin/env bash
# ssh driver under faults, in the four transfer modes (onestor stream / tar -S fallback,
# host to host direct / relayed through the front-end), migrating VM 42's directory from
# host01 to host02 (separate datastores):
#   (a) the destination host is down;
#   (b) the destination host dies mid-transfer (everything on it killed while data flows);
#   (c) the destination disk is full (a 40 MiB tmpfs for 100 MiB of data);
#   (d) the front-end driver is killed with SIGKILL partway;
#   (f) the source cannot be removed whole after its copy.
# In every case the source is intact (checksums), nothing partial carries the final name,
# and a retry succeeds once the fault is gone. Then names with spaces, quotes and shell
# metacharacters (in a VM directory, an image path, a context file) survive every trip
# unchanged and run nothing.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../hosts/pids.sh"  # (pid_live)
# host02's system datastore 9 is a 40 MiB disk of its own: a tmpfs mounted before host02
# starts, so its sshd's bind of $T/hosts/host02 carries it (a mount made later would not
# reach host02's private mount namespace without a restart).
e2e_before_hosts() { mkdir -p "$T/hosts/host02/9" && mount -t tmpfs -o size=40M tmpfs "$T/hosts/host02/9"; }
e2e_init "$@" ssh
ssh_mux

TH="$ONESTOR_SRC/test/hosts/testhosts.sh"
V=$DS/0/42
H1=$T/hosts/host01 H2=$T/hosts/host02
SRC=$(mktemp -d /var/tmp/onestor-sshf.XXXXXX)
trap 'umount "$T/hosts/host02/9" 2>/dev/null; rm -rf "$SRC"; e2e_cleanup' EXIT
BASE=$(cat "$ONESTOR_CONF")
vm_xml 42 host01 ssh
head -c 100M /dev/urandom > "$SRC/rand"

mode_conf() {  # mode_conf stream|tar direct|relay
    local r=$R/onestor
    [ "$1" = tar ] && r=/nonexistent/onestor
    printf '%s\nREMOTE_ONESTOR=%s\nHOST_TO_HOST=%s\nHOST_SSH=ssh -F %s -o ConnectTimeout=5\nSSH_CONNECT_TIMEOUT=5\n' \
        "$BASE" "$r" "$2" "$T/hosts/ssh_config" > "$ONESTOR_CONF"
}
# A listing of a tree with a checksum per file (sparse_sum: never reads holes).
tree_sums() {
    (cd "$1" && find . -mindepth 1 -printf '%y %s %p\n' | sed 's/^d [0-9]* /d /' | sort &&
        find . -type f -print0 | sort -z | while IFS= read -r -d '' f; do printf '%s %s\n' "$(sparse_sum "$f")" "$f"; done)
}
fresh_vm() {  # fresh_vm MIB: VM 42's dir on host01 (only), a 1 GiB disk.0 holding MIB of data
    rm -rf "$H1/0/42" "$H2/0/42" "$DS/0/42"
    mkdir -p "$H1/0/42/disk.0.snap"
    truncate -s 1G "$H1/0/42/disk.0"
    head -c "${1}M" "$SRC/rand" | dd of="$H1/0/42/disk.0" bs=1M seek=100 conv=notrunc status=none
    echo snapshot > "$H1/0/42/disk.0.snap/0"
    echo "DEPLOY_ID=one-42" > "$H1/0/42/deployment.0"
    tree_sums "$H1/0/42" > "$T/src.sums"
}
src_intact() { [ "$(tree_sums "$H1/0/42")" = "$(cat "$T/src.sums")" ]; }
dst_whole() { [ "$(tree_sums "${1:-$H2/0/42}")" = "$(cat "$T/src.sums")" ]; }
no_final_name() { [ ! -e "$H2/0/42" ] && [ ! -L "$H2/0/42" ]; }
temps_on2() { find "$H2/0" -maxdepth 1 -name '.42.onestor-tmp.*' 2>/dev/null; }
arrived_kib() { local t; t=$(temps_on2); [ -n "$t" ] && du -sk $t 2>/dev/null | awk '{s += $1} END {print s + 0}' || echo 0; }
wait_arrived() {  # wait_arrived KIB: until that much data reached host02's temporary copy
    local i
    for i in $(seq 1 1500); do [ "$(arrived_kib)" -ge "$1" ] && return 0; sleep 0.01; done
    return 1
}
host_pids() {  # every process in a test host's own mount namespace (its sshd and all it runs)
    # Only while the sshd recorded is that very process (pids.sh): once it died, its PID may
    # be another suite's test host, whose namespace must not be signalled.
    local pid
    pid=$(pid_live "$T/hosts/$1.pid") || return 0
    perl -e 'my $ns = readlink("/proc/$ARGV[0]/ns/mnt") or exit 0;
        for (glob "/proc/[0-9]*") { my $l = readlink("$_/ns/mnt"); print substr($_, 6), "\n" if defined $l && $l eq $ns }' \
        "$pid"
}
signal_host() {  # signal_host SIG HOST: signal every process of the host at once
    local pids; pids=$(host_pids "$2")
    [ -z "$pids" ] || kill -"$1" $pids 2>/dev/null
    echo "$pids"
}
descendants() {  # descendants PID: the PIDs of all its children, grandchildren, ...
    local all kids k
    all=$(ps -e -o pid=,ppid=)
    kids=$(awk -v p="$1" '$2 == p {print $1}' <<<"$all")
    for k in $kids; do echo "$k"; descendants "$k"; done
}
migrate() { "$R/tm/ssh/mv" "host01:$V" "host02:$V" 42 0; }

faults() {
    local xfer=$1 h2h=$2 m="$1 $2" p pids drv left frozen alive
    echo "# transfer mode: $m"
    mode_conf "$xfer" "$h2h"

    # (a) the destination host is down before the migration
    fresh_vm 8
    "$TH" down "$T/hosts" host02
    check "$m (a): host02 is down" sh -c "! ssh -F '$T/hosts/ssh_config' -o ConnectTimeout=3 host02 true 2>/dev/null"
    expect_error "$m (a): host02 down: refused, naming host02" "host02" migrate
    echo "# $m (a): $(sed -n '/^ERROR MESSAGE --8<------$/{n;p;}' <<<"$ERR")"
    check "$m (a): the source is intact" src_intact
    check "$m (a): nothing under the final name" no_final_name
    check "$m (a): no temporary copy either" test -z "$(temps_on2)"
    "$TH" up "$T/hosts" host02
    expect_ok "$m (a): host02 back: the retry succeeds" migrate
    check "$m (a): the copy is whole" dst_whole
    check "$m (a): the source went only now" test ! -e "$H1/0/42"

    # (b) the destination host dies mid-transfer: once data is arriving, everything on
    # host02 is frozen (so the transfer is surely unfinished) and then killed, sshd included
    fresh_vm 100
    env ONESTOR_LIMIT_TRANSFER_BW=20M "$R/tm/ssh/mv" "host01:$V" "host02:$V" 42 0 > /dev/null 2> "$T/b.err" &
    drv=$!
    if wait_arrived 1024; then
        signal_host STOP host02 > /dev/null
        check "$m (b): host02 was stopped mid-transfer (not under the final name yet)" no_final_name
        "$TH" down "$T/hosts" host02
    else
        fail "$m (b): no data arrived on host02 within 15 s"
    fi
    wait "$drv"; RC=$?
    check "$m (b): the migration failed (exit $RC)" test "$RC" -ne 0
    echo "# $m (b): $(sed -n '/^ERROR MESSAGE --8<------$/{n;p;}' "$T/b.err")"
    check "$m (b): the source is intact" src_intact
    check "$m (b): nothing under the final name" no_final_name
    left=$(temps_on2 | wc -l)
    echo "# $m (b): $left temporary copies left on host02 by the dead receiver ($(arrived_kib) KiB)"
    "$TH" up "$T/hosts" host02
    expect_ok "$m (b): host02 back: the retry succeeds" migrate
    check "$m (b): the copy is whole" dst_whole
    check "$m (b): the source went only now" test ! -e "$H1/0/42"
    check "$m (b): the retry removed what the dead attempt left" test -z "$(temps_on2)"

    # (c) the destination disk is full: to host02's 40 MiB system datastore 9
    fresh_vm 100
    check "$m (c): host02 sees its datastore 9 as a 40 MiB disk" \
        test "$(on host02 stat -f -c '%T %b %S' "$DS/9")" = "tmpfs $((40 << 20 >> 12)) 4096"
    expect_error "$m (c): disk full: refused, saying so" "No space left on device" \
        "$R/tm/ssh/mv" "host01:$V" "host02:$DS/9/42" 42 9
    echo "# $m (c): $(sed -n '/^ERROR MESSAGE --8<------$/{n;p;}' <<<"$ERR")"
    check "$m (c): the source is intact" src_intact
    check "$m (c): nothing under the final name" test ! -e "$H2/9/42"
    check "$m (c): the partial copy was removed (the disk is empty again)" test -z "$(ls -A "$H2/9" | grep -vx .monitor)"  # (the probes' marker stays)
    mount -o remount,size=256M "$H2/9"
    check "$m (c): host02 sees the space" test "$(on host02 stat -f -c %b "$DS/9")" = $((256 << 20 >> 12))
    expect_ok "$m (c): space back: the retry succeeds" "$R/tm/ssh/mv" "host01:$V" "host02:$DS/9/42" 42 9
    check "$m (c): the copy is whole" dst_whole "$H2/9/42"
    check "$m (c): the source went only now" test ! -e "$H1/0/42"
    rm -rf "$H2/9/42" && mount -o remount,size=40M "$H2/9"

    # (d) the front-end driver is killed with SIGKILL partway
    fresh_vm 40
    env ONESTOR_LIMIT_TRANSFER_BW=20M "$R/tm/ssh/mv" "host01:$V" "host02:$V" 42 0 > /dev/null 2>&1 &
    drv=$!  # the driver itself (env execs it)
    disown "$drv"  # no job report when it is killed
    if wait_arrived 1024; then
        # host02 is held still for the moment of the kill, so the transfer is surely unfinished
        frozen=$(signal_host STOP host02)
        pids=$(descendants "$drv")
        kill -KILL "$drv"
        check "$m (d): killed mid-transfer: nothing under the final name" no_final_name
        check "$m (d): killed mid-transfer: the source is intact" src_intact
        [ -z "$frozen" ] || kill -CONT $frozen 2>/dev/null
        # What the driver started runs on without it (nothing kills its children): wait.
        for _ in $(seq 1 300); do
            alive=""; for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
            [ -z "$alive" ] && break; sleep 0.1
        done
        check "$m (d): the orphaned transfer ended by itself" test -z "$alive"
    else
        fail "$m (d): no data arrived on host02 within 15 s"; kill -KILL "$drv"
    fi
    check "$m (d): the source is intact" src_intact
    if no_final_name; then
        echo "# $m (d): after the orphans ended: nothing under the final name"
    else
        check "$m (d): what carries the final name is whole" dst_whole
        echo "# $m (d): after the orphans ended: a whole copy under the final name (source kept)"
    fi
    echo "# $m (d): temporary copies left on host02: $(temps_on2 | wc -l) ($(arrived_kib) KiB)"
    expect_ok "$m (d): the retry succeeds" migrate
    check "$m (d): the copy is whole" dst_whole
    check "$m (d): the source went only now" test ! -e "$H1/0/42"
    check "$m (d): the retry removed what the killed attempt left" test -z "$(temps_on2)"
    rm -rf "$H2/0/42"

    # (f) the source cannot be removed whole (an immutable file in it, as root's rm -rf
    # cannot remove): the move stands, and the source's path is gone at once, never naming a
    # partly removed tree that a retry would copy over the complete destination
    fresh_vm 8
    chattr +i "$H1/0/42/disk.0.snap/0"
    expect_ok "$m (f): a source that cannot be removed whole: the move succeeds" migrate
    check "$m (f): the copy is whole" dst_whole
    check "$m (f): the source's path is gone" test ! -e "$H1/0/42"
    check "$m (f): what rm could not remove is one hidden leftover" \
        test "$(find "$H1/0" -maxdepth 1 -name '.42.onestor-tmp.*' | wc -l)" = 1
    chattr -i "$H1"/0/.42.onestor-tmp.*/disk.0.snap/0
    tree_sums "$H2/0/42" > "$T/src.sums"
    expect_ok "$m (f): moved back to host01" "$R/tm/ssh/mv" "host02:$V" "host01:$V" 42 0
    check "$m (f): back whole on host01" dst_whole "$H1/0/42"
    check "$m (f): the move back removed the leftover" test -z "$(find "$H1/0" -maxdepth 1 -name '.42.onestor-tmp.*')"
    rm -rf "$H1/0/42"
}

faults stream direct
faults stream relay
faults tar direct
faults tar relay

# ---- (e) the sending tar dies right after the archive's first member ------------------------
# A tar archive cut at a member boundary is a valid archive (tar -x exits 0), so the receiver
# alone cannot tell. In host01's own mount namespace only, tar is replaced by one that sends
# the first 512-byte header (the directory "42/") and then claims success.
cp /usr/bin/tar "$T/realtar"
printf '#!/bin/sh\n"%s" "$@" | head -c 512\nexit 0\n' "$T/realtar" > "$T/cuttar" && chmod +x "$T/cuttar"
H1PID=$(cut -d' ' -f1 "$T/hosts/host01.pid")
for h2h in direct relay; do
    mode_conf tar "$h2h"
    fresh_vm 8
    nsenter -t "$H1PID" -m mount --bind "$T/cuttar" /usr/bin/tar
    check "tar $h2h (e): host01's tar is the cutting one" test "$(on host01 sh -c 'tar -C /etc -cf - hostname | wc -c')" = 512
    expect_error "tar $h2h (e): a cut archive is refused" "the copy is incomplete" migrate
    echo "# tar $h2h (e): $(sed -n '/^ERROR MESSAGE --8<------$/{n;p;}' <<<"$ERR")"
    check "tar $h2h (e): the source is intact" src_intact
    check "tar $h2h (e): nothing under the final name" no_final_name
    check "tar $h2h (e): no temporary copy left" test -z "$(temps_on2)"
    nsenter -t "$H1PID" -m umount /usr/bin/tar
    expect_ok "tar $h2h (e): with a whole tar the retry succeeds" migrate
    check "tar $h2h (e): the copy is whole" dst_whole
done

# ---- host01 cannot reach host02 (direct mode, a wrong HOST_SSH) ----------------------------
for xfer in stream tar; do
    mode_conf "$xfer" direct
    echo "HOST_SSH=ssh -F /dev/null -o BatchMode=yes -o ConnectTimeout=5" >> "$ONESTOR_CONF"
    fresh_vm 1
    expect_error "$xfer: host01 cannot reach host02: said so" "to host host02 failed (HOST_TO_HOST=direct)" migrate
    check "$xfer: host01 cannot reach host02: the source is intact" src_intact
    check "$xfer: host01 cannot reach host02: nothing on host02" test ! -e "$H2/0/42" -a -z "$(temps_on2)"
done

# ---- hostile names --------------------------------------------------------------------------
# A path inside the VM dir (its '/' make it three levels deep), a file name with every shell
# metacharacter, an image path and context files the same.
N1="it's a \$(touch /tmp/PWNEDSSH_1) ;x"
N2="a \`touch PWNEDSSH_2\`; b & c > PWNEDSSH_3 | d \"e\" \\ *"
# host01 -> host02 in each mode; host02 -> front-end (where direct and relay are the same
# path) once per transfer kind
for mode in "stream direct" "stream relay" "tar direct" "tar relay"; do
    set -- $mode
    mode_conf "$1" "$2"
    fresh_vm 1
    mkdir -p "$(dirname "$H1/0/42/$N1")"
    printf 'hostile one' > "$H1/0/42/$N1"
    printf 'hostile two' > "$H1/0/42/$N2"
    tree_sums "$H1/0/42" > "$T/src.sums"
    check "$mode: the hostile tree is three levels deep" test -f "$H1/0/42/it's a \$(touch /tmp/PWNEDSSH_1) ;x"
    expect_ok "$mode: hostile names host01 -> host02" migrate
    check "$mode: names and bytes arrived unchanged on host02" dst_whole
    check "$mode: the source went" test ! -e "$H1/0/42"
    [ "$2" = relay ] && continue
    expect_ok "$mode: and host02 -> front-end" "$R/tm/ssh/mv" "host02:$V" "frontend:$V" 42 0
    check "$mode: unchanged on the front-end" test "$(tree_sums "$V")" = "$(cat "$T/src.sums")"
    check "$mode: nothing left on host02" test ! -e "$H2/0/42"
    rm -rf "$V"
done

# A persistent image whose path is hostile: ln to host01, the VM writes, mvds back, cpds out.
mode_conf stream relay
PS="$DS/1/$N2"
mkdir -p "$DS/1"
head -c 2M "$SRC/rand" > "$PS"
vm_xml 42 host01 ssh "1:NO:$PS:2:2:raw:ssh"
for xfer in stream tar; do
    mode_conf "$xfer" relay
    rm -rf "$H1/0/42"
    expect_ok "$xfer: ln of a hostile image path" "$R/tm/ssh/ln" "frontend:$PS" "host01:$V/disk.1" 42 1
    check "$xfer: its bytes on host01" test "$(sparse_sum "$H1/0/42/disk.1")" = "$(sparse_sum "$PS")"
    want="VM $xfer"
    printf '%s' "$want" | on host01 dd of="$V/disk.1" conv=notrunc status=none
    expect_ok "$xfer: cpds to a hostile path" "$R/tm/ssh/cpds" "host01:$V/disk.1" "$DS/1/$N2.$xfer" -1 42 1
    check "$xfer: cpds wrote that exact path" test "$(head -c ${#want} "$DS/1/$N2.$xfer")" = "$want"
    expect_ok "$xfer: mvds back to the hostile path" "$R/tm/ssh/mvds" "host01:$V/disk.1" "$PS" 42 1
    check "$xfer: the image holds the VM's write" test "$(head -c ${#want} "$PS")" = "$want"
    check "$xfer: the image is whole (2 MiB)" test "$(stat -c %s "$PS")" = $((2 << 20))
done
check "only the expected files in the image datastore" \
    test "$(cd "$DS/1" && ls -A | sort)" = "$(printf '%s\n' "$N2" "$N2.stream" "$N2.tar" | sort)"

# Context files with hostile names: as a file name and as a path:'name' rename.
mode_conf stream relay
C1="$SRC/it's a \$(touch PWNEDSSH_4) ;x"
printf 'context one' > "$C1"
printf 'context two' > "$SRC/plain"
N3="b \$(touch PWNEDSSH_5) \`touch PWNEDSSH_6\` & c"
expect_ok "context with hostile names" "$R/tm/ssh/context" "$C1" "$SRC/plain:'$N3'" "host01:$V/disk.2" 42 0
ISO=$H1/0/42/disk.2
check "context: the ISO lists both names unchanged" \
    test "$(isoinfo -R -f -i "$ISO" | sort)" = "$(printf '/%s\n' "$(basename "$C1")" "$N3" | sort)"
check "context: the first file's bytes" test "$(isoinfo -R -i "$ISO" -x "/$(basename "$C1")")" = "context one"
check "context: the renamed file's bytes" test "$(isoinfo -R -i "$ISO" -x "/$N3")" = "context two"

# Nothing ran: no marker anywhere the shells could have made one (hosts share / and /tmp).
pwned() { find / /tmp /root "$PWD" "$SRC" -maxdepth 1 -name 'PWNEDSSH_*' 2>/dev/null; find "$T" -name 'PWNEDSSH_[0-9]' 2>/dev/null; }
check "no command ran from a name (front-end and hosts)" test -z "$(pwned)"
check "no command ran from a name (as host01 sees it)" test -z "$(on host01 find / /tmp /root "$DS" -maxdepth 2 -name 'PWNEDSSH_[0-9]')"
check "no command ran from a name (as host02 sees it)" test -z "$(on host02 find / /tmp /root "$DS" -maxdepth 2 -name 'PWNEDSSH_[0-9]')"
e2e_finish

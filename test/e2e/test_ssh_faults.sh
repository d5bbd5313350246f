#!/usr/bin/env bash
# ssh driver under faults: the destination host down, the destination dying mid-transfer,
# the destination disk full, the driver killed with SIGKILL partway. In every case the
# source is intact, nothing partial carries the final name, and a retry succeeds once the
# fault is gone. And names with spaces, quotes and shell metacharacters survive the trip.
source "$(dirname "$0")/lib.sh"
e2e_init "$@" ssh
TH="$ONESTOR_SRC/scripts/testhosts.sh"
V=$DS/0/42
H1=$T/hosts/host01 H2=$T/hosts/host02
cat >> "$ONESTOR_CONF" <<CFG
REMOTE_ONESTOR=$R/onestor
HOST_SSH=ssh -F $T/hosts/ssh_config -o ConnectTimeout=5
SSH_CONNECT_TIMEOUT=5
CFG
vm_xml 42 host01 ssh

fresh_vm() {  # a VM dir on host01 holding $1 MiB of data
    rm -rf "$H1/0/42" "$H2/0/42"
    mkdir -p "$H1/0/42/disk.0.snap"
    truncate -s 1G "$H1/0/42/disk.0"
    head -c "${1}M" /dev/urandom | dd of="$H1/0/42/disk.0" bs=1M seek=100 conv=notrunc status=none
    echo snap > "$H1/0/42/disk.0.snap/0"
    (cd "$H1/0/42" && find . -type f -exec sha256sum {} + | sort -k2) > "$T/src.sums"
}
src_intact() { [ "$(cd "$H1/0/42" && find . -type f -exec sha256sum {} + | sort -k2)" = "$(cat "$T/src.sums")" ]; }
dst_whole() { [ "$(cd "$H2/0/42" && find . -type f -exec sha256sum {} + | sort -k2)" = "$(cat "$T/src.sums")" ]; }
no_final_name() { [ ! -e "$H2/0/42" ]; }
migrate() { "$R/tm/ssh/mv" "host01:$V" "host02:$V" 42 0; }

# (a) the destination host is down
fresh_vm 8
"$TH" down "$T/hosts" host02
expect_error "host02 down: refused with a reason" "host02" "$R/tm/ssh/mv" "host01:$V" "host02:$V" 42 0
check "host02 down: the source is intact" src_intact
check "host02 down: nothing under the final name" no_final_name
"$TH" up "$T/hosts" host02
expect_ok "host02 back: the retry succeeds" "$R/tm/ssh/mv" "host01:$V" "host02:$V" 42 0
check "host02 back: the copy is whole" dst_whole
check "host02 back: the source went only now" test ! -e "$H1/0/42"

# (b) the destination dies mid-transfer (its receiver killed while data flows)
fresh_vm 96
# Kill the receiver once data flows (polled, not a fixed delay: a loaded machine is slow to start).
( for _ in $(seq 1 200); do pgrep -f "onestor receive $V" >/dev/null && break; sleep 0.1; done
  sleep 1; pkill -f "onestor receive $V" ) &
killer=$!
expect_error "receiver killed mid-transfer: refused" "cannot copy" env ONESTOR_LIMIT_TRANSFER_BW=16M "$R/tm/ssh/mv" "host01:$V" "host02:$V" 42 0
wait $killer
check "receiver killed: the source is intact" src_intact
check "receiver killed: nothing under the final name" no_final_name
expect_ok "receiver killed: the retry succeeds" "$R/tm/ssh/mv" "host01:$V" "host02:$V" 42 0
check "receiver killed: the copy is whole" dst_whole

# (c) the destination disk is full
fresh_vm 64
mkdir -p "$H2/0"
mount -t tmpfs -o size=40M tmpfs "$H2/0"
"$TH" down "$T/hosts" host02; "$TH" up "$T/hosts" host02   # host02 sees the small disk now
expect_error "disk full: refused with a reason" "No space left" "$R/tm/ssh/mv" "host01:$V" "host02:$V" 42 0
check "disk full: the source is intact" src_intact
check "disk full: nothing under the final name" no_final_name
check "disk full: no temporary file left behind" test -z "$(ls -A "$H2/0")"
umount "$H2/0"
"$TH" down "$T/hosts" host02; "$TH" up "$T/hosts" host02
expect_ok "space back: the retry succeeds" "$R/tm/ssh/mv" "host01:$V" "host02:$V" 42 0
check "space back: the copy is whole" dst_whole

# (d) the driver is killed with SIGKILL partway
fresh_vm 96
env ONESTOR_LIMIT_TRANSFER_BW=16M "$R/tm/ssh/mv" "host01:$V" "host02:$V" 42 0 2>/dev/null &
drv=$!
for _ in $(seq 1 200); do pgrep -f "onestor receive $V" >/dev/null && break; sleep 0.1; done
sleep 1
kill -9 $drv; wait $drv 2>/dev/null
sleep 1
check "SIGKILL: the source is intact" src_intact
check "SIGKILL: nothing partial under the final name" sh -c "[ ! -e '$H2/0/42' ] || [ \"\$(cd '$H2/0/42' && find . -type f -exec sha256sum {} + | sort -k2)\" = \"\$(cat '$T/src.sums')\" ]"
pkill -f "onestor receive $V" 2>/dev/null; pkill -f "onestor send $V" 2>/dev/null; sleep 0.5
expect_ok "SIGKILL: the retry succeeds" "$R/tm/ssh/mv" "host01:$V" "host02:$V" 42 0
check "SIGKILL: the copy is whole" dst_whole
echo "# leftovers after SIGKILL: $(find "$H2/0" -name '*onestor-tmp*' | wc -l) temporary entries on host02"

# (e) hostile names survive the trip and run nothing, in both transfer modes
NAME="it's a \$(touch PWNED_ssh) \`touch PWNED_ssh2\`;x & y > z"
for mode in stream tar; do
    [ "$mode" = tar ] && export ONESTOR_REMOTE_ONESTOR=/nonexistent
    fresh_vm 1
    printf 'hostile' > "$H1/0/42/$NAME"
    (cd "$H1/0/42" && find . -type f -exec sha256sum {} + | sort -k2) > "$T/src.sums"
    expect_ok "$mode: a hostile name to host02" "$R/tm/ssh/mv" "host01:$V" "host02:$V" 42 0
    check "$mode: the name and bytes arrived unchanged" dst_whole
    expect_ok "$mode: and on to the front-end" "$R/tm/ssh/mv" "host02:$V" "frontend:$V" 42 0
    check "$mode: unchanged on the front-end" test "$(cat "$V/$NAME")" = hostile
    rm -rf "$V"
    unset ONESTOR_REMOTE_ONESTOR
done
check "no command ran from a name (front-end)" test -z "$(find "$PWD" /root /tmp -maxdepth 1 -name 'PWNED*')"
check "no command ran from a name (hosts)" on host01 sh -c 'test -z "$(find ~ /tmp -maxdepth 1 -name "PWNED*")"'
check "no stray file named z" test ! -e z -a ! -e /root/z
e2e_finish

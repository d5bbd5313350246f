#!/usr/bin/env bash
# The driver set on a throw-away sandbox: installs what it needs, builds onestor, starts two
# real sshd hypervisor hosts (host01, host02) sharing a datastore tree with the front-end
# (this machine, in a private mount namespace), and runs the example VM of OpenNebula's
# storage-driver guide -- CREATE, STOP, RESUME, MIGRATE, SHUTDOWN -- through the installed
# symlinks exactly as oned would, printing each call and its result. Needs root.
# fs_lvm's hosts are two user-mode-linux kernels (real device-mapper) sharing one SAN file.
#   demo.sh [shared|ssh|qcow2|fs_lvm]   one driver's part; no argument: all four in turn
set -euo pipefail
cd "$(dirname "$0")/.."
PART=${1:-all}
if [ -z "${E2E_IN_NS:-}" ]; then
    [ "$(id -u)" -eq 0 ] || { echo "scripts/demo.sh must run as root (test hosts need mount namespaces)" >&2; exit 1; }
    bash scripts/deps.sh
    # A build directory of its own: the demo needs no tests, and its cache must not decide
    # what another script's build runs.
    cmake -S . -B build-demo -DONESTOR_TESTS=OFF -DONESTOR_FUZZ=OFF -DONESTOR_SANITIZE=OFF >/dev/null &&
        cmake --build build-demo -j"$(nproc)" >/dev/null
    if [ "$PART" = all ]; then
        for p in shared ssh qcow2 fs_lvm; do bash "$0" "$p"; echo; done
        exit 0
    fi
fi
export ONESTOR_SRC=$PWD ONESTOR_BIN=$PWD/build-demo/onestor
set +e
source test/e2e/lib.sh
case "$PART" in ssh) e2e_init "$@" ssh ;; fs_lvm) e2e_init "$@" lvm ;; *) e2e_init "$@" shared ;; esac
TM=$PART
cat >> "$ONESTOR_CONF" <<CFG
REMOTE_ONESTOR=$R/onestor
HOST_SSH=ssh -F $T/hosts/ssh_config
CFG

CALLS=0
# call DRIVER_PATH ARGS...: prints the call as oned would issue it, then its stdout and exit code.
call() {
    local prog=$1; shift
    CALLS=$((CALLS + 1))
    printf '\n$ %s' "${prog#"$R"/}"
    local a; for a in "$@"; do if [ ${#a} -gt 60 ]; then printf ' %s...' "${a:0:24}"; else printf ' %s' "$a"; fi; done
    echo
    OUT=$("$prog" "$@" 2>"$T/err"); local rc=$?
    sed 's/^/    log: /' "$T/err"
    [ -n "$OUT" ] && sed 's/^/    stdout: /' <<<"$OUT"
    echo "    exit: $rc"
    [ "$rc" -eq 0 ] || { echo "demo: a driver call failed" >&2; exit 1; }
}

SRC=$(mktemp -d /var/tmp/onestor-demo.XXXXXX)
trap 'rm -rf "$SRC"; e2e_cleanup' EXIT
echo "######## TM_MAD=$TM: the example VM of the storage-driver guide ########"
if [ "$TM" = ssh ]; then
    echo "== sandbox: front-end = this machine; host01 = 127.0.0.2, host02 = 127.0.0.3 (real sshd), each with its own local system datastore"
elif [ "$TM" = fs_lvm ]; then
    echo "== sandbox: front-end = this machine; host01 = 10.77.0.2, host02 = 10.77.0.3: two user-mode-linux kernels (real sshd, real"
    echo "   device-mapper) sharing one SAN block device with volume group vg-one-0, and the datastore tree"
else
    echo "== sandbox: front-end = this machine; host01 = 127.0.0.2, host02 = 127.0.0.3 (real sshd), one shared datastore tree"
fi
echo "== remotes tree: $R ($(find "$R" -type l | wc -l) symlinks to one onestor binary)"
make_sparse "$SRC/ttylinux.img" 512

echo; echo "== register the images (datastore driver fs)"
call "$R/datastore/fs/stat" "$(ds_dump PATH="$SRC/ttylinux.img" SAFE_DIRS=/var/tmp RESTRICTED_DIRS=/)" 0
call "$R/datastore/fs/cp" "$(ds_dump IMAGE_ID=0 PATH="$SRC/ttylinux.img" SAFE_DIRS=/var/tmp RESTRICTED_DIRS=/)" 0
IMG0=$OUT
call "$R/datastore/fs/mkfs" "$(ds_dump IMAGE_ID=1 FSTYPE=ext4 SIZE=64 PERSISTENT=1)" 1
IMG1=$OUT
call "$R/datastore/fs/monitor" "$(ds_dump NO_IMAGE=1)" 1

vm_xml 42 host01 "$TM" "0:YES:$IMG0:512:512:raw:$TM" "1:NO:$IMG1:64:64:raw:$TM"
where() {  # where PATH: which machines hold PATH (front-end and both hosts)
    local w="" h
    [ -e "$1" ] && w="frontend"
    for h in host01 host02; do on "$h" test -e "$1" && w="$w $h"; done
    w=${w# }
    echo "    $1 is on: ${w:-nowhere}"
    if [ "$TM" = fs_lvm ] && [ -L "$1" ]; then  # the disk is a logical volume: where is it active?
        local lv; lv=$(readlink "$1"); w=""
        for h in host01 host02; do
            [ "$(on "$h" lvs --noheadings -o lv_active "$lv" 2>/dev/null | tr -d ' ')" = active ] && w="$w $h"
        done
        w=${w# }
        echo "    -> $lv, active on: ${w:-no host}"
    fi
}
V=$DS/0/42
echo; echo "== CREATE on host01"
call "$R/tm/$TM/clone" "frontend:$IMG0" "host01:$V/disk.0" 42 1
call "$R/tm/$TM/ln" "frontend:$IMG1" "host01:$V/disk.1" 42 1
echo "ONEGATE_ENDPOINT=http://frontend:5030" > "$SRC/context.sh"
call "$R/tm/$TM/context" "$SRC/context.sh" "host01:$V/disk.2" 42 0
call "$R/tm/$TM/mkswap" 32 "host01:$V/disk.3" 42 0
where "$V/disk.0"
if [ "$TM" = qcow2 ]; then
    echo; echo "== disk snapshots (qcow2 overlays): write, snapshot, write, revert"
    printf 'before snapshot 0' | on host01 qemu-io -f qcow2 -c 'write -P 0x41 0 4k' "$V/disk.0" >/dev/null
    call "$R/tm/$TM/snap_create" "host01:$V/disk.0" 0 42 1
    on host01 qemu-io -f qcow2 -c 'write -P 0x42 0 4k' "$V/disk.0" >/dev/null
    call "$R/tm/$TM/snap_revert" "host01:$V/disk.0" 0 42 1
    echo "    disk.0 reads the snapshot's bytes again: $(on host01 qemu-io -f qcow2 -c 'read -P 0x41 0 4k' "$V/disk.0" >/dev/null && echo yes || echo NO)"
    echo "    chain: $(on host01 qemu-img info --backing-chain "$V/disk.0" | grep '^image:' | tr '\n' ' ')"
fi

echo; echo "== STOP"
set_lcm 42 10  # EPILOG_STOP: the LCM state oned reports during each step
call "$R/tm/$TM/mv" "host01:$V/disk.0" "frontend:$V/disk.0" 42 1
call "$R/tm/$TM/mv" "host01:$V/disk.1" "frontend:$V/disk.1" 42 1
call "$R/tm/$TM/mv" "host01:$V" "frontend:$V" 42 0
where "$V/disk.0"
echo; echo "== RESUME"
set_lcm 42 9   # PROLOG_RESUME
call "$R/tm/$TM/mv" "frontend:$V/disk.0" "host01:$V/disk.0" 42 1
call "$R/tm/$TM/mv" "frontend:$V/disk.1" "host01:$V/disk.1" 42 1
call "$R/tm/$TM/mv" "frontend:$V" "host01:$V" 42 0
where "$V/disk.0"
echo; echo "== MIGRATE host01 -> host02"
set_lcm 42 8   # PROLOG_MIGRATE
call "$R/tm/$TM/mv" "host01:$V/disk.0" "host02:$V/disk.0" 42 1
call "$R/tm/$TM/mv" "host01:$V/disk.1" "host02:$V/disk.1" 42 1
call "$R/tm/$TM/mv" "host01:$V" "host02:$V" 42 0
where "$V/disk.0"
call "$R/tm/$TM/premigrate" host01 host02 "$V" 42 0 "$(base64 -w0 "$T/vms/42.xml")"

echo; echo "== the VM writes to its persistent disk on host02"
printf 'written by vm 42 on host02' | on host02 dd of="$V/disk.1" bs=1M seek=10 conv=notrunc status=none

echo; echo "== SHUTDOWN"
set_lcm 42 11  # EPILOG
call "$R/tm/$TM/delete" "host02:$V/disk.0" 42 1
call "$R/tm/$TM/mvds" "host02:$V/disk.1" "$IMG1" 42 1
call "$R/tm/$TM/delete" "host02:$V" 42 0

echo; echo "== results"
echo "persistent image holds the VM's write: $(dd if="$IMG1" bs=1M skip=10 count=1 status=none | head -c 26)"
echo "non-persistent image unchanged: $([ "$(sum "$IMG0")" = "$(sum "$SRC/ttylinux.img")" ] && echo yes || echo NO)"
echo "VM directory gone from every host: $([ ! -e "$V" ] && ! on host01 test -e "$V" && ! on host02 test -e "$V" && echo yes || echo NO)"
[ "$TM" = fs_lvm ] && echo "logical volumes left in vg-one-0: $(on host01 lvs --noheadings -o lv_name vg-one-0 | wc -l)"
echo; echo "demo ($TM) finished: $CALLS driver calls, all succeeded"

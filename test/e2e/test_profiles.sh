#!/usr/bin/env bash
# Drop-in for each caller release: the installed tree says which OpenNebula runs it
# ($R/VERSION, as oned installs it and `onehost sync` copies it), and oned_caller.py calls
# every action as that release's oned does (dump on argv or stdin) and parses the outputs as
# that release parses them (SOURCE [FORMAT], the failure reason, monitor templates, the host
# probe that reads .monitor). Per release 5.12.0, 6.10.0 and 7.4.0: image cp/clone/stat/
# monitor and a refused cp; the example VM on TM_MAD=ssh (CREATE, snapshots, STOP, RESUME,
# MIGRATE host01 -> host02, SHUTDOWN) with the system datastore's monitor and the hosts'
# probe after each step; an action we do not support. Then the fallback of an unknown
# release and the PROTOCOL override.
source "$(dirname "$0")/lib.sh"
e2e_init "$@" ssh
ssh_mux

SRC=$(mktemp -d /var/tmp/onestor-prof.XXXXXX)
trap 'rm -rf "$SRC"; e2e_cleanup' EXIT
CALLER=(python3 "$ONESTOR_SRC/test/e2e/oned_caller.py")
# No PROTOCOL here: the profile is detected from $R/VERSION.
grep -v '^PROTOCOL=' "$ONESTOR_CONF" > "$T/conf" && printf 'REMOTE_ONESTOR=%s\nHOST_SSH=ssh -F %s\n' "$R/onestor" "$T/hosts/ssh_config" >> "$T/conf" && mv "$T/conf" "$ONESTOR_CONF"

make_sparse "$SRC/os.img" 64
dump() { ds_dump SAFE_DIRS=/var/tmp RESTRICTED_DIRS=/ "$@"; }
call() { run_action "${CALLER[@]}" "$REL" "$R" "$@"; }          # as release $REL's oned
field() { sed -n "s/^$1=//p" <<<"$OUT" | head -n1; }
succeeded() { [ "$RC" = 0 ] && [ "$(field RESULT)" = SUCCESS ]; }
# failed_with SUBSTRING: FAILURE, and the reason oned records is one clean sentence with it
failed_with() {
    local why; why=$(field INFO)
    [ "$RC" = 1 ] && [ "$(field RESULT)" = FAILURE ] && [[ "$why" == *"$1"* ]] &&
        [[ "$why" != *"ERROR MESSAGE"* ]] && [[ "$why" != "-" ]] || { echo "# RC=$RC reason: $why"; return 1; }
}
# probe HOST: the host's monitoring probe (monitor_ds.rb + monitor_ds_vm.rb), as $REL's
probe() { OUT=$(on "$1" "${CALLER[@]}" "$REL" "$R" probe "$DS"); RC=$?; }
# migrate_hook ACTION SRC DST DIR [DSID]: tm/ssh pre/post/failmigrate, the VM on stdin
migrate_hook() { call tm "$1" ssh --stdin "$2" "$3" "$4" "$VM" "${5:-0}" < <(base64 -w0 "$T/vms/$VM.xml"); }
# copy_gone HOST ACTION: from 6.0 ACTION removed HOST's copy of the VM; a 5.x one leaves it
# (removed here, for what follows)
copy_gone() {
    if [ "$fam" -ge 6 ]; then
        check "$REL: $2: $1's copy of the VM is gone" eval "succeeded && ! on $1 test -e \"\$V\" && on $1 test -d \"\$DS/0\""
    else
        check "$REL: $2 (5.x: nothing to do): $1's copy stays" on "$1" test -f "$V/disk.0"
        on "$1" rm -rf "$V"
    fi
}
# vmm_copy FROM TO DIR [FILE] [TO_DIR]: what the VMM's live migration with local disks
# leaves on TO: DIR's disks (or FILE alone, a copy cut short), sparse, at TO_DIR.
vmm_copy() {
    local to_dir=${5:-$3}
    mkdir -p "$(at "$2" "$to_dir")"
    if [ -n "${4:-}" ]; then cp --sparse=always "$(at "$1" "$3")/$4" "$(at "$2" "$to_dir")/"
    else cp -a --sparse=always "$(at "$1" "$3")/." "$(at "$2" "$to_dir")/"; fi
}

for REL in 5.12.0 6.10.0 7.4.0; do
    fam=${REL%%.*}
    echo "# ---- caller $REL"
    echo "$REL" > "$R/VERSION"
    VM=$((40 + fam)) && V=$DS/0/$VM
    run_action "$R/onestor" --version
    check "$REL: onestor --version names the $fam.x profile ($OUT)" grep -q "^profile: $fam\.x .*VERSION $REL" <<<"$OUT"

    # ---- the image datastore
    call ds cp fs "$VM" "$(dump PATH="$SRC/os.img" IMAGE_ID=$VM)"
    check "$REL: cp succeeds as this oned reads it" succeeded
    IMG=$(field SOURCE)
    check "$REL: cp: SOURCE is the new image, with the bytes" test -f "$IMG" -a "$(sparse_sum "$IMG")" = "$(sparse_sum "$SRC/os.img")"
    if [ "$fam" -ge 6 ]; then
        check "$REL: cp: FORMAT raw returned" test "$(field FORMAT)" = raw
    else
        check "$REL: cp: SOURCE alone (the seed's form)" test "$(field INFO)" = "$IMG\\n"
    fi
    call ds clone fs "$VM" "$(dump PATH="$IMG" IMAGE_ID=$((VM + 100)))"
    check "$REL: clone succeeds" succeeded
    CL=$(field SOURCE)
    check "$REL: clone: a new SOURCE with the bytes" test -f "$CL" -a "$CL" != "$IMG" -a "$(sparse_sum "$CL")" = "$(sparse_sum "$IMG")"
    [ "$fam" -ge 6 ] && check "$REL: clone: FORMAT raw" test "$(field FORMAT)" = raw
    call ds stat fs "$VM" "$(dump PATH="$SRC/os.img")"
    check "$REL: stat: 64 MiB" test "$RC" = 0 -a "$(field INFO)" = '64\n'
    call ds monitor fs 1 "$(dump NO_IMAGE=1)"
    check "$REL: image DS monitor parses, USED_MB read" test "$RC" = 0 -a -n "$(field USED_MB)"
    call ds cp fs "$VM" "$(dump PATH="$SRC/missing.img" IMAGE_ID=$VM)"
    check "$REL: a refused cp: the reason names the file" failed_with "missing.img"
    if [ "$fam" = 7 ]; then
        check "$REL: the reason holds no log line" eval '[[ "$(field INFO)" != *ERROR:* && "$(field INFO)" != *INFO:* ]]'
    fi
    call ds export fs "$VM" "$(dump SOURCE="$IMG" SIZE=64 FORMAT=raw)"
    check "$REL: export: IMPORT_INFO as a marketplace reads it" eval 'succeeded && [ "$(field IMPORT_SOURCE)" = "$IMG" ] && [ "$(field SIZE)" = 64 ] && [ "$(field FORMAT)" = raw ] && [ "$(field DISPOSE)" = NO ]'
    check "$REL: export: the MD5 of the image" test "$(field MD5)" = "$(md5sum < "$IMG" | cut -d' ' -f1)"
    call ds export fs "$VM" "$(dump SOURCE=/etc/passwd SIZE=1)"
    check "$REL: export of a SOURCE outside the datastore is refused" failed_with "not inside the datastore"
    call ds rm fs "$VM" "$(dump SOURCE="$CL")"
    check "$REL: rm of the clone" test "$RC" = 0 -a ! -e "$CL"

    # ---- the example VM on TM_MAD=ssh
    vm_xml "$VM" host01 ssh "0:YES:$IMG:64:64:raw:ssh"
    call tm clone ssh "frontend:$IMG" "host01:$V/disk.0" "$VM" 1
    check "$REL: CREATE: clone to host01" succeeded
    check "$REL: CREATE: host01's datastore 0 is marked for the probes" test "$(on host01 cat "$DS/0/.monitor")" = ssh
    probe host01
    check "$REL: probe on host01: datastore 0 reported" test "$RC" = 0 -a "$(field DS_0_MARK)" = ssh
    check "$REL: probe on host01: its usage (USED_MB=$(field DS_0_USED_MB))" grep -qE '^DS_0_USED_MB=[0-9]+$' <<<"$OUT"
    check "$REL: probe on host01: VM $VM's disk.0" grep -qE "^VM_${VM}_DISK_0=[0-9]+\$" <<<"$OUT"
    call tm snap_create ssh "host01:$V/disk.0" 0 "$VM" 1
    check "$REL: snap_create 0" succeeded
    probe host01
    check "$REL: probe: the snapshot's size" grep -qE "^VM_${VM}_SNAP_0_0=[0-9]+\$" <<<"$OUT"
    printf 'changed' | on host01 dd of="$V/disk.0" bs=1M seek=10 conv=notrunc status=none
    call tm snap_revert ssh "host01:$V/disk.0" 0 "$VM" 1
    check "$REL: snap_revert 0 brings the image's bytes back" eval 'succeeded && [ "$(sparse_sum_on host01 "$V/disk.0")" = "$(sparse_sum "$IMG")" ]'
    call tm snap_revert ssh "host01:$V/disk.0" 5 "$VM" 1
    check "$REL: snap_revert of a missing snapshot: the reason" failed_with "does not exist"
    call tm snap_delete ssh "host01:$V/disk.0" 0 "$VM" 1
    check "$REL: snap_delete 0" succeeded
    call tm snap_create_live ssh "host01:$V/disk.0" 1 "$VM" 1
    check "$REL: snap_create_live without a running domain: the reason" failed_with "cannot suspend domain 'one-$VM'"
    # A live migration to host02 that failed (the VM on stdin, as one_vmm_exec gives it).
    # Live migration with local disks: the VMM copies them (libvirt's copy-storage; here
    # vmm_copy, as it leaves them), the TM removes the copy not used (6.0+).
    SUMV=$(sparse_sum_on host01 "$V/disk.0")
    on host02 mkdir -p "$V" && on host02 sh -c 'echo stale > "$1/disk.7"' sh "$V"
    migrate_hook premigrate host01 host02 "$V"
    check "$REL: premigrate" succeeded
    if [ "$fam" -ge 6 ]; then
        check "$REL: premigrate: host02's stale directory of the VM is gone, host01's intact" \
            eval '! on host02 test -e "$V" && [ "$(sparse_sum_on host01 "$V/disk.0")" = "$SUMV" ]'
    else
        check "$REL: premigrate (5.x: nothing to do): host02 untouched" on host02 test -f "$V/disk.7"
    fi
    vmm_copy host01 host02 "$V" disk.0
    migrate_hook failmigrate host01 host02 "$V"
    check "$REL: failmigrate succeeds and prints nothing" eval 'succeeded && [ -z "$(field INFO)" ]'
    check "$REL: failmigrate: the VM is on host01 as it was" test "$(sparse_sum_on host01 "$V/disk.0")" = "$SUMV"
    copy_gone host02 failmigrate
    # Names this release's oned may call that we do not implement: upstream's answer, with
    # a large stdin read (a writer never blocks on us).
    for a in prebackup postbackup_live restore recovery_snap_create_live; do
        call tm "$a" ssh --stdin "host01:$V" "$VM" 0 < <(head -c 4M /dev/zero | base64 -w0)
        check "$REL: tm $a: \"$a: Operation not supported\"" failed_with "$a: Operation not supported"
    done
    call ds increment_flatten fs "$VM" "$(dump PATH="$IMG")"
    check "$REL: ds increment_flatten: not supported" failed_with "increment_flatten: Operation not supported"

    call tm mv ssh "host01:$V/disk.0" "frontend:$V/disk.0" "$VM" 1
    call tm mv ssh "host01:$V" "frontend:$V" "$VM" 0
    check "$REL: STOP: the VM dir moved to the front-end" eval 'succeeded && [ -f "$V/disk.0" ]'
    check "$REL: STOP: host01 keeps its marker" test "$(on host01 cat "$DS/0/.monitor")" = ssh
    call ds monitor fs 0 "$(dump NO_IMAGE=1 DS_ID=0 DS_TYPE=1 TM_MAD=ssh MONITOR_VM_DISKS=1)" ssh
    check "$REL: system DS monitor (tm/ssh/monitor) parses as this release's" test "$RC" = 0 -a -n "$(field USED_MB)"
    check "$REL: system DS monitor: VM $VM's disk.0 in this release's VM form" grep -qE "^VM_${VM}_DISK_0=[0-9]+\$" <<<"$OUT"
    call tm mv ssh "frontend:$V" "host01:$V" "$VM" 0
    check "$REL: RESUME: back on host01" eval 'succeeded && [ "$(sparse_sum_on host01 "$V/disk.0")" = "$(sparse_sum "$IMG")" ]'
    call tm mv ssh "host01:$V" "host02:$V" "$VM" 0
    check "$REL: MIGRATE: on host02" eval 'succeeded && [ "$(sparse_sum_on host02 "$V/disk.0")" = "$(sparse_sum "$IMG")" ]'
    probe host02
    check "$REL: probe on host02: datastore 0 and VM $VM reported" eval '[ "$(field DS_0_MARK)" = ssh ] && grep -qE "^VM_${VM}_DISK_0=[0-9]+\$" <<<"$OUT"'
    probe host01
    check "$REL: probe on host01: VM $VM gone from there" eval '[ "$(field DS_0_MARK)" = ssh ] && ! grep -q "^VM_${VM}_" <<<"$OUT"'
    # A live migration back to host01 that works: the VM runs there after the copy, so
    # postmigrate removes host02's copy (6.0+), only once host01 holds every disk.
    SUMV=$(sparse_sum_on host02 "$V/disk.0") SYSDS=0
    migrate_hook premigrate host02 host01 "$V"
    vmm_copy host02 host01 "$V"
    on host02 touch "$V/disk.9"  # attached after the copy: host01 lacks it
    migrate_hook postmigrate host02 host01 "$V"
    check "$REL: postmigrate succeeds and prints nothing" eval 'succeeded && [ -z "$(field INFO)" ]'
    check "$REL: postmigrate: host02 has a disk host01 lacks (disk.9): host02's copy is kept" on host02 test -f "$V/disk.0"
    on host02 rm -f "$V/disk.9"
    migrate_hook postmigrate host02 host01 "$V"
    check "$REL: postmigrate: the disks on host01, intact" test "$(sparse_sum_on host01 "$V/disk.0")" = "$SUMV"
    copy_gone host02 postmigrate
    if [ "$fam" -ge 7 ]; then
        # 7.2+ storage live migration: host01's datastore 0 -> host02's datastore 100.
        V100=$DS/100/$VM
        on host02 mkdir -p "$DS/100"
        VM_PREV_DS=0 VM_DS=100 vm_xml "$VM" host02 ssh "0:YES:$IMG:64:64:raw:ssh"
        migrate_hook premigrate host01 host02 "$V100" 100
        vmm_copy host01 host02 "$V" "" "$V100"
        migrate_hook postmigrate host01 host02 "$V100" 100
        check "$REL: storage live migration: datastore 0's directory on host01 is gone, datastore 100's on host02 intact" \
            eval 'succeeded && ! on host01 test -e "$V" && [ "$(sparse_sum_on host02 "$V100/disk.0")" = "$SUMV" ]'
        V=$V100 SYSDS=100
    else
        on host02 mkdir -p "$V" && vmm_copy host01 host02 "$V" && on host01 rm -rf "$V"  # (a plain migrate back)
    fi
    call tm delete ssh "host02:$V" "$VM" "$SYSDS"
    check "$REL: SHUTDOWN: deleted on host02, the marker stays" eval 'succeeded && ! on host02 test -e "$V" && [ "$(on host02 cat "$DS/0/.monitor")" = ssh ]'
    rm -f "$IMG"
done

echo "# ---- live migration with local disks on storage shared after all: nothing removed"
# An ssh system datastore whose VM directory host02 sees as host01's (an NFS mount the
# operator forgot): the token premigrate/postmigrate leave on one side shows on the other.
REL=6.10.0 VM=60 V=$DS/0/60
echo "$REL" > "$R/VERSION"
vm_xml "$VM" host02 ssh "0:YES:$SRC/os.img:64:64:raw:ssh"
mkdir -p "$(at host01 "$V")" "$(at host02 "$V")" && cp --sparse=always "$SRC/os.img" "$(at host01 "$V")/disk.0"
H2PID=$(cut -d' ' -f1 "$T/hosts/host02.pid")
nsenter -t "$H2PID" -m mount --bind "$(at host01 "$V")" "$V"
run_action "$R/tm/ssh/premigrate" host01 host02 "$V" "$VM" 0 < <(base64 -w0 "$T/vms/$VM.xml")
check "shared after all: premigrate succeeds, removes nothing, says why in its log" \
    eval '[ "$RC" = 0 ] && on host01 test -f "$V/disk.0" && grep -q "^INFO: premigrate: not removing .*: it is .* itself (shared storage)" <<<"$ERR"'
migrate_hook postmigrate host01 host02 "$V"
check "shared after all: postmigrate succeeds, the disk intact on both sides" \
    eval 'succeeded && [ "$(sparse_sum_on host01 "$V/disk.0")" = "$(sparse_sum "$SRC/os.img")" ] && on host02 test -f "$V/disk.0"'
check "shared after all: no token left" test -z "$(find "$(at host01 "$V")" -name '.onestor-migrate.*')"
nsenter -t "$H2PID" -m umount "$V"
rm -rf "$(at host01 "$V")" "$(at host02 "$V")"

echo "# ---- unknown caller: the newest profile the call allows, said once"
rm -f "$R/VERSION"
run_action "$R/datastore/fs/stat" 7 <<<"$(dump PATH="$SRC/os.img")"
check "no VERSION, dump on stdin: stat works" test "$RC" = 0 -a "$OUT" = 64
check "no VERSION, dump on stdin: one INFO line names the 7.x profile" \
    test "$(grep -c '^INFO: ' <<<"$ERR")" = 1 -a -n "$(grep '^INFO: stat: no remotes/VERSION: using the 7.x' <<<"$ERR")"
run_action "$R/datastore/fs/cp" "$(dump PATH="$SRC/os.img" IMAGE_ID=9)" 9
check "no VERSION, dump on argv (before 6.8): the 6.x profile, SOURCE FORMAT" \
    eval '[ "$RC" = 0 ] && [[ "$OUT" == *" raw" ]] && grep -q "using the 6.x" <<<"$ERR"'
rm -f "${OUT% raw}"
echo 'garbage' > "$R/VERSION"
run_action "$R/onestor" --version
check "garbage VERSION: --version says the fallback" grep -q '^profile: 7\.x .*names no release' <<<"$OUT"
run_action "$R/datastore/fs/stat" 7 <<<"$(dump PATH="$SRC/os.img")"
check "garbage VERSION: stat works, one INFO line says why" eval '[ "$RC" = 0 ] && [ "$(grep -c "names no release" <<<"$ERR")" = 1 ]'
echo '7.4.0' > "$R/VERSION"
run_action env ONESTOR_PROTOCOL=5 "$R/datastore/fs/cp" "$(dump PATH="$SRC/os.img" IMAGE_ID=9)" 9
check "PROTOCOL=5 overrides VERSION 7.4.0: SOURCE alone, no note" eval '[ "$RC" = 0 ] && [ -f "$OUT" ] && ! grep -q "using the" <<<"$ERR"'
rm -f "$OUT"
run_action "$R/datastore/fs/stat" 7 <<<"$(dump PATH="$SRC/os.img")"
check "VERSION 7.4.0: no note" test "$RC" = 0 -a -z "$ERR"

e2e_finish

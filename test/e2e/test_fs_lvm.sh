#!/usr/bin/env bash
# TM_MAD=fs_lvm on real device-mapper: host01 and host02 are two user-mode-linux kernels
# sharing one "SAN" block device (test/hosts/lvmhosts.sh), so an LV active on one host is
# really inactive on the other. Images and VM directories are on the shared tree.
# Checked after each step: which LVs exist, where each is active, the bytes they hold
# (cmp against the image, zeros where the image does not reach), and what is left behind.
source "$(dirname "$0")/lib.sh"
e2e_init "$@" lvm
export ONESTOR_LOCK_TIMEOUT=120
I=$DS/1
mkdir -p "$I" "$DS/0" "$DS/100"
# A 64 MiB raw image with data at 0 and at 40 MiB (the rest holes), a persistent one of
# 32 MiB, a qcow2 one.
truncate -s 64M "$I/img"
qemu-io -f raw -c 'write -P 0x11 0 1M' -c 'write -P 0x22 40M 2M' "$I/img" >/dev/null
truncate -s 32M "$I/pers"
qemu-io -f raw -c 'write -P 0x33 0 4M' "$I/pers" >/dev/null
qemu-img create -q -f qcow2 "$I/q" 48M
qemu-io -f qcow2 -c 'write -P 0x44 8M 1M' "$I/q" >/dev/null
IMGSUM=$(sum "$I/img") PERSSUM=$(sum "$I/pers") QSUM=$(sum "$I/q")
MiB=1048576

lvs_on() { on "$1" lvs --noheadings -o lv_name,lv_attr,lv_size --units m --nosuffix vg-one-0 vg-one-100 2>/dev/null; }
has_lv() { lvs_on "$1" | awk '{print $1}' | grep -qx "$2"; }
no_lv() { ! has_lv host01 "$1"; }
# active_on HOST LV: the LV is active in that host's kernel (its device exists there)
active_on() { lvs_on "$1" | awk -v n="$2" '$1 == n { exit !(substr($2, 5, 1) == "a") } END { if (!NR) exit 1 }'; }
inactive_on() { has_lv "$1" "$2" && ! active_on "$1" "$2"; }
lv_bytes() { on host01 lvs --noheadings --units b --nosuffix -o lv_size "vg-one-$1/$2" | tr -d ' '; }
# dev_is HOST DEV FILE: the first size(FILE) bytes of DEV are FILE's
dev_is() { on "$1" cmp -n "$(stat -c %s "$3")" "$2" "$3" >/dev/null; }
# zeros_on HOST DEV OFFSET LEN: that range of DEV reads as zeros
zeros_on() { on "$1" cmp -n "$4" -i "$3:0" "$2" /dev/zero >/dev/null; }
dev_sum() { on "$1" sha256sum "$2" | cut -d' ' -f1; }
ours() { lvs_on host01 | awk '{print $1}' | grep -E "^lv-one-$1-" | sort | tr '\n' ' '; }

# ---- dirty the group first, so zeroing is really needed: an LV full of 0xAA, removed ----
on host01 sh -c 'lvcreate -q -y -L 256M -n junk vg-one-0 && tr "\000" "\252" < /dev/zero | dd of=/dev/vg-one-0/junk bs=1M count=256 status=none iflag=fullblock; lvremove -q -f vg-one-0/junk' >/dev/null 2>&1
check "the group starts empty" test -z "$(ours '[0-9]+')"

# ---- VM 42 on host01: clone (SIZE > image), persistent ln, context, swap ----------------
V=$DS/0/42
vm_xml 42 host01 fs_lvm "0:YES:$I/img:96:64:raw:fs_lvm" "1:NO:$I/pers:32:32:raw:fs_lvm" "3:YES::16:16:raw:fs_lvm"
expect_ok "clone (96 MiB disk of a 64 MiB image)" "$R/tm/fs_lvm/clone" "frontend:$I/img" "host01:$V/disk.0" 42 1
check "disk.0 links to its LV" test "$(readlink "$V/disk.0")" = /dev/vg-one-0/lv-one-42-0
check "the LV is 96 MiB" test "$(lv_bytes 0 lv-one-42-0)" = $((96 * MiB))
check "the LV is active on host01" active_on host01 lv-one-42-0
check "... and not on host02 (its own kernel)" inactive_on host02 lv-one-42-0
check "the LV holds the image's bytes" dev_is host01 /dev/vg-one-0/lv-one-42-0 "$I/img"
check "the tail past the image reads zeros (the group held 0xAA there)" zeros_on host01 /dev/vg-one-0/lv-one-42-0 $((64 * MiB)) $((32 * MiB))
check ".host names host01" test "$(cat "$V/.host")" = host01
expect_ok "ln (persistent)" "$R/tm/fs_lvm/ln" "frontend:$I/pers" "host01:$V/disk.1" 42 1
check "the persistent disk is an LV with the image's bytes" dev_is host01 /dev/vg-one-0/lv-one-42-1 "$I/pers"
printf 'hello\n' > "$T/ctx.sh"
expect_ok "context" "$R/tm/fs_lvm/context" "$T/ctx.sh" "host01:$V/disk.2" 42 0
check "the context ISO is a file beside the links" test -f "$V/disk.2" -a ! -L "$V/disk.2"
expect_ok "mkswap 16 MiB" "$R/tm/fs_lvm/mkswap" 16 "host01:$V/disk.3" 42 0
check "the swap LV carries a swap signature" test "$(on host01 dd if=/dev/vg-one-0/lv-one-42-3 bs=1 skip=4086 count=10 status=none)" = SWAPSPACE2
check "the images are untouched" test "$(sum "$I/img")$(sum "$I/pers")" = "$IMGSUM$PERSSUM"
expect_error "a snapshot of a linear LV is not supported" "snap_create is not supported" "$R/tm/fs_lvm/snap_create" "host01:$V/disk.0" 0 42 0

# ---- the VM writes on host01 ----------------------------------------------------------------
on host01 qemu-io -f raw -c 'write -P 0x5a 1M 1M' /dev/vg-one-0/lv-one-42-1 >/dev/null
on host01 qemu-io -f raw -c 'write -P 0x6b 70M 1M' /dev/vg-one-0/lv-one-42-0 >/dev/null
D0=$(dev_sum host01 /dev/vg-one-0/lv-one-42-0) D1=$(dev_sum host01 /dev/vg-one-0/lv-one-42-1)

# ---- STOP (EPILOG_STOP): deactivated on host01 -------------------------------------------
set_lcm 42 10
for n in 0 1 2 3; do
    expect_ok "stop: mv disk.$n host01 -> front-end" "$R/tm/fs_lvm/mv" "host01:$V/disk.$n" "frontend:$V/disk.$n" 42 0
done
expect_ok "stop: mv the VM directory" "$R/tm/fs_lvm/mv" "host01:$V" "frontend:$V" 42 0
check "after stop the disks are inactive on host01" inactive_on host01 lv-one-42-0
check "... all of them" inactive_on host01 lv-one-42-1
check "... and on host02" inactive_on host02 lv-one-42-0
check ".host is gone" test ! -e "$V/.host"

# ---- RESUME (PROLOG_RESUME): activated on host01 --------------------------------------------
set_lcm 42 9
for n in 0 1 2 3; do
    expect_ok "resume: mv disk.$n front-end -> host01" "$R/tm/fs_lvm/mv" "frontend:$V/disk.$n" "host01:$V/disk.$n" 42 0
done
check "after resume the disks are active on host01" active_on host01 lv-one-42-0
check "... not on host02" inactive_on host02 lv-one-42-1

# ---- cold MIGRATE host01 -> host02 (PROLOG_MIGRATE) -----------------------------------------
set_lcm 42 8
for n in 0 1 3; do
    expect_ok "migrate: mv disk.$n host01 -> host02" "$R/tm/fs_lvm/mv" "host01:$V/disk.$n" "host02:$V/disk.$n" 42 0
done
check "after migrate the disks are active on host02" active_on host02 lv-one-42-0
check "... and no longer on host01" inactive_on host01 lv-one-42-0
check "host02 reads what the VM wrote on host01 (disk.0)" test "$(dev_sum host02 /dev/vg-one-0/lv-one-42-0)" = "$D0"
check "... (disk.1)" test "$(dev_sum host02 /dev/vg-one-0/lv-one-42-1)" = "$D1"
check ".host names host02" test "$(cat "$V/.host")" = host02

# ---- live migration host02 -> host01 ---------------------------------------------------------
TPL=$(base64 -w0 < "$T/vms/42.xml")
expect_ok "premigrate host02 -> host01" "$R/tm/fs_lvm/premigrate" host02 host01 "$V" 42 0 "$TPL"
check "during the migration the LVs are active on both hosts" active_on host01 lv-one-42-1
check "... (still on host02)" active_on host02 lv-one-42-1
expect_ok "postmigrate host02 -> host01" "$R/tm/fs_lvm/postmigrate" host02 host01 "$V" 42 0 "$TPL"
check "after it, only on host01" inactive_on host02 lv-one-42-1
check "... (and host01 has them)" active_on host01 lv-one-42-1

# ---- a live migration host01 -> host02 that fails: failmigrate lets go of host02's volumes ----
expect_ok "premigrate host01 -> host02 (to fail)" "$R/tm/fs_lvm/premigrate" host01 host02 "$V" 42 0 "$TPL"
check "premigrate activated them on host02" active_on host02 lv-one-42-1
expect_ok "failmigrate host01 -> host02" "$R/tm/fs_lvm/failmigrate" host01 host02 "$V" 42 0 "$TPL"
check "failmigrate: inactive on host02 again" inactive_on host02 lv-one-42-1
check "failmigrate: ... (disk.0 too)" inactive_on host02 lv-one-42-0
check "failmigrate: still active on host01" active_on host01 lv-one-42-1

# ---- host01 reboots: activate, run on host01 itself, brings its VM's volumes back ----------
on host01 lvchange -q -an vg-one-0/lv-one-42-0 vg-one-0/lv-one-42-1 >/dev/null 2>&1
check "(reboot: inactive on host01)" inactive_on host01 lv-one-42-0
run_action on host01 env ONESTOR_LVM_SUDO= "$R/tm/fs_lvm/activate"
check "activate on host01 exits 0 ($ERR)" test "$RC" = 0
check "activate: host01's VM disks are active again" active_on host01 lv-one-42-0
check "activate: ... (disk.1)" active_on host01 lv-one-42-1
run_action on host02 env ONESTOR_LVM_SUDO= "$R/tm/fs_lvm/activate"
check "activate on host02, which owns no VM: exits 0, activates nothing" eval '[ "$RC" = 0 ] && inactive_on host02 lv-one-42-0'
on host01 qemu-io -f raw -c 'write -P 0x7c 3M 1M' /dev/vg-one-0/lv-one-42-1 >/dev/null
D1=$(dev_sum host01 /dev/vg-one-0/lv-one-42-1)

# ---- save-as, resize, then SHUTDOWN: mvds writes the persistent disk back -------------------
expect_ok "cpds disk.0 (save as a new image)" "$R/tm/fs_lvm/cpds" "host01:$V/disk.0" "frontend:$I/saved" -1 42 1
check "the saved image holds the disk's bytes" test "$(sum "$I/saved")" = "$D0"
check "no temporary file beside it" test -z "$(ls -A "$I" | grep onestor-tmp)"
expect_ok "resize disk.0 to 128 MiB" "$R/tm/fs_lvm/resize" "host01:$V/disk.0" 128 42 0
check "the LV is 128 MiB" test "$(lv_bytes 0 lv-one-42-0)" = $((128 * MiB))
check "the new part reads zeros" zeros_on host01 /dev/vg-one-0/lv-one-42-0 $((96 * MiB)) $((32 * MiB))
check "the old part is unchanged" test "$(on host01 sh -c 'head -c $1 $2 | sha256sum' sh $((96 * MiB)) /dev/vg-one-0/lv-one-42-0 | cut -d' ' -f1)" = "$D0"
ino=$(stat -c %i "$I/pers")
# The volume held open on host01 (a process still reading it): its removal fails after the
# image is saved and the volume zeroed. oned's retry must not copy the zeroed volume over it.
on host01 sh -c 'exec 3</dev/vg-one-0/lv-one-42-1; echo $$ >/tmp/holder.pid; exec sleep 120' & HOLD=$!
sleep 1
run_action "$R/tm/fs_lvm/mvds" "host01:$V/disk.1" "frontend:$I/pers" 42 1
check "mvds with the volume in use: fails (its removal)" test "$RC" != 0
check "... after the image was saved" test "$(sum "$I/pers")" = "$D1"
run_action "$R/tm/fs_lvm/mvds" "host01:$V/disk.1" "frontend:$I/pers" 42 1
check "the retry fails too, and copies nothing: the image keeps the VM's writes" eval '[ "$RC" != 0 ] && [ "$(sum "$I/pers")" = "$D1" ]'
on host01 sh -c 'kill "$(cat /tmp/holder.pid)"'; wait "$HOLD" 2>/dev/null
on host01 lvremove -q -f vg-one-0/lv-one-42-1 >/dev/null  # (what oned's operator does after the failure)
check "it was written beside the image and renamed (not in place)" test "$(stat -c %i "$I/pers")" != "$ino"
check "its LV is gone" no_lv lv-one-42-1
check "and its link" test ! -e "$V/disk.1" -a ! -L "$V/disk.1"
for n in 0 2 3; do expect_ok "delete disk.$n" "$R/tm/fs_lvm/delete" "host01:$V/disk.$n" 42 0; done
expect_ok "delete the VM directory" "$R/tm/fs_lvm/delete" "host01:$V" 42 0
check "nothing of VM 42 is left: no LV" test -z "$(ours 42)"
check "... no directory" test ! -e "$V"
check "the source images are untouched" test "$(sum "$I/img")$(sum "$I/q")" = "$IMGSUM$QSUM"

# ---- a qcow2 image into an LV; monitor ----------------------------------------------------------
V=$DS/0/47
vm_xml 47 host01 fs_lvm "0:YES:$I/q:48:48:qcow2:fs_lvm"
expect_ok "clone of a qcow2 image" "$R/tm/fs_lvm/clone" "frontend:$I/q" "host01:$V/disk.0" 47 1
qemu-img convert -f qcow2 -O raw "$I/q" "$T/q.raw"
check "the LV holds the image's guest-visible bytes" dev_is host01 /dev/vg-one-0/lv-one-47-0 "$T/q.raw"
M=$(ds_dump NO_IMAGE=1 DS_ID=0 DS_TYPE=1 TM_MAD=fs_lvm BRIDGE_LIST=host01 MONITOR_VM_DISKS=1)
expect_ok "monitor (the group, read on a BRIDGE_LIST host)" "$R/tm/fs_lvm/monitor" "$M" 0
read -r vsize vfree <<<"$(on host01 vgs --noheadings --units m --nosuffix -o vg_size,vg_free vg-one-0)"
check "TOTAL_MB is the group's size" grep -qx "TOTAL_MB=${vsize%.*}" <<<"$OUT"
check "FREE_MB is the group's free space" grep -qx "FREE_MB=${vfree%.*}" <<<"$OUT"
check "VM 47's disk is reported" grep -q 'VM=\[ID=47,POLL="DISK_SIZE=\[ID=0,SIZE=48\]' <<<"$OUT"

# ---- a volatile disk with a filesystem (6.x DISK/FS) --------------------------------------
VM_DISK_EXTRA='<FS>ext4</FS>' vm_xml 49 host01 fs_lvm "0:YES::32:32:raw:fs_lvm"
expect_ok "mkimage 32 MiB with FS=ext4" "$R/tm/fs_lvm/mkimage" 32 raw "host01:$DS/0/49/disk.0" 49 0
check "the LV holds an ext4 filesystem" test "$(on host01 blkid -p -o value -s TYPE /dev/vg-one-0/lv-one-49-0)" = ext4
expect_ok "delete it" "$R/tm/fs_lvm/delete" "host01:$DS/0/49" 49 0
VM_DISK_EXTRA='<FS>ntfs</FS>' vm_xml 49 host01 fs_lvm "0:YES::32:32:raw:fs_lvm"
expect_error "a filesystem outside SUPPORTED_FS" "is not in SUPPORTED_FS" "$R/tm/fs_lvm/mkimage" 32 raw "host01:$DS/0/49/disk.0" 49 0
check "refused before any LV was made" test -z "$(ours 49)"

# ---- moving to another system datastore copies into its group ---------------------------
W=$DS/100/47
set_lcm 47 8
expect_ok "mv disk.0 to system datastore 100 (host01 -> host02)" "$R/tm/fs_lvm/mv" "host01:$V/disk.0" "host02:$W/disk.0" 47 100
expect_ok "mv the directory" "$R/tm/fs_lvm/mv" "host01:$V" "host02:$W" 47 100
check "the disk now links into vg-one-100" test "$(readlink "$W/disk.0")" = /dev/vg-one-100/lv-one-47-0
check "its bytes came along" dev_is host02 /dev/vg-one-100/lv-one-47-0 "$T/q.raw"
check "active on host02 only" active_on host02 lv-one-47-0
check "the old LV in vg-one-0 is gone" test "$(on host01 lvs --noheadings -o lv_name vg-one-0 | grep -c lv-one-47)" = 0
expect_ok "delete it" "$R/tm/fs_lvm/delete" "host02:$W" 47 100
check "nothing of VM 47 is left" test -z "$(ours 47)" -a ! -e "$W"

# ---- thin volumes: snapshots -----------------------------------------------------------
V=$DS/0/43
VM_DISK_EXTRA='<LVM_THIN_ENABLE>YES</LVM_THIN_ENABLE>' vm_xml 43 host01 fs_lvm "0:YES:$I/img:64:64:raw:fs_lvm"
expect_ok "thin clone" "$R/tm/fs_lvm/clone" "frontend:$I/img" "host01:$V/disk.0" 43 1
check "the disk is a thin volume in the VM's pool" test "$(on host01 lvs --noheadings -o pool_lv vg-one-0/lv-one-43-0 | tr -d ' ')" = lv-one-43-pool
check "it holds the image's bytes" dev_is host01 /dev/vg-one-0/lv-one-43-0 "$I/img"
DEV=/dev/vg-one-0/lv-one-43-0
declare -A SNAP
for s in 0 1 2; do
    on host01 qemu-io -f raw -c "write -P $((0x70 + s)) $((s * 3))M 1M" "$DEV" >/dev/null
    SNAP[$s]=$(dev_sum host01 "$DEV")
    expect_ok "snap_create $s" "$R/tm/fs_lvm/snap_create" "host01:$V/disk.0" "$s" 43 0
done
on host01 qemu-io -f raw -c 'write -P 0x7f 20M 1M' "$DEV" >/dev/null
LATEST=$(dev_sum host01 "$DEV")
check "the three snapshots are distinct states" test "${SNAP[0]}" != "${SNAP[1]}" -a "${SNAP[1]}" != "${SNAP[2]}" -a "${SNAP[2]}" != "$LATEST"
expect_ok "snap_revert 0" "$R/tm/fs_lvm/snap_revert" "host01:$V/disk.0" 0 43 0
check "the disk reads exactly snapshot 0" test "$(dev_sum host01 "$DEV")" = "${SNAP[0]}"
expect_ok "snap_delete 1" "$R/tm/fs_lvm/snap_delete" "host01:$V/disk.0" 1 43 0
check "snapshot 1's LV is gone" no_lv lv-one-43-0_s1
expect_ok "snap_revert 2 (after 1 was deleted)" "$R/tm/fs_lvm/snap_revert" "host01:$V/disk.0" 2 43 0
check "the disk reads exactly snapshot 2" test "$(dev_sum host01 "$DEV")" = "${SNAP[2]}"
expect_ok "cpds of snapshot 0" "$R/tm/fs_lvm/cpds" "host01:$V/disk.0" "frontend:$I/snap0" 0 43 0
check "snapshot 0 still holds its own state" test "$(sum "$I/snap0")" = "${SNAP[0]}"
expect_error "revert to a deleted snapshot" "does not exist" "$R/tm/fs_lvm/snap_revert" "host01:$V/disk.0" 1 43 0
check "no revert leftovers" test -z "$(ours 43 | tr ' ' '\n' | grep -E '_(new|old)$')"
M=$(ds_dump NO_IMAGE=1 DS_ID=0 DS_TYPE=1 TM_MAD=fs_lvm BRIDGE_LIST=host01 MONITOR_VM_DISKS=1)
expect_ok "monitor with snapshots" "$R/tm/fs_lvm/monitor" "$M" 0
check "snapshots are reported" grep -q 'VM=\[ID=43,POLL="DISK_SIZE=\[ID=0,SIZE=64\] SNAPSHOT_SIZE=\[ID=0,DISK_ID=0,SIZE=64\] SNAPSHOT_SIZE=\[ID=2,DISK_ID=0' <<<"$OUT"
expect_ok "delete the thin disk and the directory" "$R/tm/fs_lvm/delete" "host01:$V" 43 0
check "disk, snapshots and pool are gone" test -z "$(ours 43)"

# ---- failures: clear errors, no LV leaked, images untouched ---------------------------------
V=$DS/0/44
vm_xml 44 host01 fs_lvm "0:YES:$I/img:999999:64:raw:fs_lvm"
expect_error "a full volume group" "insufficient free space" "$R/tm/fs_lvm/clone" "frontend:$I/img" "host01:$V/disk.0" 44 1
check "no LV of VM 44 (full group)" test -z "$(ours 44)"
vm_xml 44 host01 fs_lvm "0:YES:$I/img:64:64:raw:fs_lvm"
# The holder is the sleep itself (flock(1) would leave its child holding the lock when killed).
( exec 9>"$T/lock/lvm-vg-one-0"; flock 9; exec sleep 60 ) & HOLDER=$!
sleep 0.3
ONESTOR_LOCK_TIMEOUT=2 expect_error "the group's lock held past the timeout" "timed out after 2 s waiting for lock" \
    "$R/tm/fs_lvm/clone" "frontend:$I/img" "host01:$V/disk.0" 44 1
kill "$HOLDER" 2>/dev/null; wait "$HOLDER" 2>/dev/null
check "no LV of VM 44 (lock timeout)" test -z "$(ours 44)"
expect_error "a missing image" "missing" "$R/tm/fs_lvm/clone" "frontend:$I/nothing" "host01:$V/disk.0" 44 1
# A qcow2 image whose first L2 entry points at an unaligned offset: its header reads fine,
# reading its data fails halfway through the copy into the new LV.
qemu-img create -q -f qcow2 "$I/bad" 8M
qemu-io -f qcow2 -c 'write -P 0x55 0 64k' "$I/bad" >/dev/null
perl -e '
    open(my $f, "+<", $ARGV[0]) or die; binmode $f;
    sub be64 { my ($hi, $lo) = unpack("NN", $_[0]); $hi * 4294967296 + $lo }
    seek($f, 40, 0); read($f, my $b, 8); my $l1 = be64($b);
    seek($f, $l1, 0); read($f, $b, 8); my $l2 = be64($b) % 72057594037927936; $l2 -= $l2 % 512;
    seek($f, $l2, 0); print $f pack("NN", 0x80000000, 0x12345601); close $f or die;
' "$I/bad"
BADSUM=$(sum "$I/bad")
vm_xml 44 host01 fs_lvm "0:YES:$I/bad:8:8:qcow2:fs_lvm"
expect_error "an image unreadable halfway" "cannot write" "$R/tm/fs_lvm/clone" "frontend:$I/bad" "host01:$V/disk.0" 44 1
check "the LV made for it was removed" test -z "$(ours 44)"
check "the image is untouched" test "$(sum "$I/bad")" = "$BADSUM"
check "no link was left" test ! -L "$V/disk.0"
VM_DISK_EXTRA='<LVM_THIN_ENABLE>YES</LVM_THIN_ENABLE>' vm_xml 44 host01 fs_lvm "0:YES:$I/bad:8:8:qcow2:fs_lvm"
expect_error "the same image into a thin volume" "cannot write" "$R/tm/fs_lvm/clone" "frontend:$I/bad" "host01:$V/disk.0" 44 1
check "the thin volume and the pool made for it were removed" test -z "$(ours 44)"
# The driver stopped while qemu-img writes into the new LV: SIGTERM ends the copy on the host
# (it must not outlive the action) and the LV is removed; SIGKILL cannot clean up, but the
# host's copy still stops with the driver. (hostfs has no SEEK_DATA: the 2 GiB are read whole.)
truncate -s 2G "$I/big"
qemu-io -f raw -c 'write -P 0x66 0 8M' -c 'write -P 0x67 1G 8M' "$I/big" >/dev/null
converting() { on host01 pgrep -f "qemu-img convert .*$I/big" >/dev/null; }
not_converting() { ! converting; }
stop_mid_copy() {  # stop_mid_copy SIGNAL VMID: runs a clone, sends SIGNAL once qemu-img runs
    vm_xml "$2" host01 fs_lvm "0:YES:$I/big:2048:2048:raw:fs_lvm"
    "$R/tm/fs_lvm/clone" "frontend:$I/big" "host01:$DS/0/$2/disk.0" "$2" 1 >"$T/stop.out" 2>"$T/stop.err" & local pid=$!
    for _ in $(seq 1 300); do converting && break; sleep 0.1; done
    converting || echo "(qemu-img never started)" >>"$T/stop.err"
    kill "-$1" "$pid"; wait "$pid" 2>/dev/null; STOP_RC=$?
    sleep 1
}
stop_mid_copy TERM 45
check "SIGTERM mid-copy: the clone fails" test "$STOP_RC" -ne 0
check "... saying it was interrupted" grep -q 'interrupted by signal 15' "$T/stop.err"
check "... the copy on host01 stopped too" not_converting
check "... and the LV it made is gone" test -z "$(ours 45)"
check "... and no link was left" test ! -L "$DS/0/45/disk.0"
stop_mid_copy KILL 46
check "SIGKILL mid-copy: the copy on host01 stopped with the driver" not_converting
check "... so its LV is free to remove" on host01 lvremove -q -f vg-one-0/lv-one-46-0
rm -f "$I/big" "$DS/0/46/disk.0"
# A disk link pointing at another VM's LV is never followed.
vm_xml 48 host01 fs_lvm "0:YES:$I/img:64:64:raw:fs_lvm"
expect_ok "clone for VM 48" "$R/tm/fs_lvm/clone" "frontend:$I/img" "host01:$DS/0/48/disk.0" 48 1
expect_error "a clone onto an LV that exists already" "already exists" "$R/tm/fs_lvm/clone" "frontend:$I/q" "host01:$DS/0/48/disk.0" 48 1
check "the existing LV is kept, with its bytes" dev_is host01 /dev/vg-one-0/lv-one-48-0 "$I/img"
mkdir -p "$V" && ln -sfn /dev/vg-one-0/lv-one-48-0 "$V/disk.0"
expect_error "delete of a link to another VM's LV" "refusing to touch it" "$R/tm/fs_lvm/delete" "host01:$V/disk.0" 44 0
check "VM 48's LV is still there, with its bytes" dev_is host01 /dev/vg-one-0/lv-one-48-0 "$I/img"
expect_error "a hostile disk path" "" "$R/tm/fs_lvm/clone" "frontend:$I/img" "host01:$DS/0/44/../48/disk.0" 44 1
check "VM 48's LV untouched by it" dev_is host01 /dev/vg-one-0/lv-one-48-0 "$I/img"
rm -f "$V/disk.0"
expect_ok "clean VM 48 up" "$R/tm/fs_lvm/delete" "host01:$DS/0/48" 48 0

# ---- 16 parallel clones into one group --------------------------------------------------------
# (a small image: what is tested is the group's lock and 16 racing lvcreates, not the copy)
truncate -s 8M "$I/small"
qemu-io -f raw -c 'write -P 0x21 0 1M' -c 'write -P 0x22 7M 1M' "$I/small" >/dev/null
for v in $(seq 100 115); do vm_xml "$v" host01 fs_lvm "0:YES:$I/small:8:8:raw:fs_lvm"; done
for v in $(seq 100 115); do
    "$R/tm/fs_lvm/clone" "frontend:$I/small" "host01:$DS/0/$v/disk.0" "$v" 1 >"$T/par.$v.out" 2>&1 &
done
okc=0
for j in $(jobs -p); do wait "$j" && okc=$((okc + 1)); done
check "16 parallel clones all succeed ($okc)" test "$okc" = 16
# one remote command compares all sixteen (a UML command costs ~0.3 s)
bad=$(on host01 sh -c 'n=0; for v in $(seq 100 115); do cmp -n "$(stat -c %s "$1")" "/dev/vg-one-0/lv-one-$v-0" "$1" >/dev/null || n=$((n + 1)); done; echo $n' sh "$I/small")
check "each holds the image's bytes" test "$bad" = 0
for v in $(seq 100 115); do
    "$R/tm/fs_lvm/delete" "host01:$DS/0/$v" "$v" 0 >"$T/pardel.$v.out" 2>&1 &
done
okc=0
for j in $(jobs -p); do wait "$j" && okc=$((okc + 1)); done
check "16 parallel deletes all succeed ($okc)" test "$okc" = 16
check "and nothing of them is left" test -z "$(ours '1[01][0-9]')"
check "at the end the groups hold no LV at all" test -z "$(lvs_on host01)"

e2e_finish

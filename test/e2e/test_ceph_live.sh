#!/usr/bin/env bash
# TM_MAD=ceph on a running VM: a real QEMU (TCG, no guest OS) whose disk is the RBD clone
# itself, read and written through librbd (QEMU's rbd block driver) on the suite's Ceph test
# cluster, under a private libvirtd that host01's virsh reaches (libvirt_lib.sh). "The guest"
# writes through QEMU (HMP qemu-io on its virtio disk).
#   snap_create_live takes RBD snapshots while the domain runs, quiesced around each (no
#   guest agent here: suspended, then resumed); each snapshot reads back as the disk was when
#   it was taken, also after the guest wrote on; a refused or failed snapshot leaves the
#   domain running and no snapshot; after shutdown, snap_revert and snap_delete.
# Fails, never skips, when the cluster, libvirtd or QEMU cannot start.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ceph_lib.sh"
source "$(dirname "$0")/libvirt_lib.sh"
e2e_before_hosts() {
    libvirt_private
    ceph_start
}
stop_all() {
    libvirt_stop one-46
    ceph_stop
    e2e_cleanup
}
e2e_init "$@" shared
trap stop_all EXIT
trap 'exit 1' INT TERM
exec </dev/null
ceph_env
libvirt_start
DOM=one-46
V=$DS/0/46
mkdir -p "$DS/0" "$DS/1" "$T/img"

# snap_reads SPEC PATTERN OFFSET_MIB...: each of those MiBs of the volume (or snapshot) reads as PATTERN
snap_reads() {
    local spec=$1 pat=$2 off ok=0; shift 2
    "${RB[@]}" export --no-progress "$spec" "$T/img/read" >/dev/null 2>&1 || { echo "cannot export $spec"; return 1; }
    for off; do
        qemu-io -r -f raw -c "read -P $pat ${off}M 1M" "$T/img/read" >/dev/null 2>&1 || { echo "$spec at ${off}M is not $pat"; ok=1; }
    done
    rm -f "$T/img/read"
    return $ok
}
gone() { ! "${VIRSH[@]}" domstate "$DOM" >/dev/null 2>&1; }
# the reason libvirt gives for the domain's state: "booted" until something paused it,
# "unpaused" once it was suspended and resumed
reason() { "${VIRSH[@]}" domstate --reason "$DOM" 2>/dev/null | head -1; }
protected() { "${RB[@]}" snap ls --format json "$1" | /usr/bin/python3 -c 'import json,sys; print(" ".join(s["name"] for s in json.load(sys.stdin) if s.get("protected") in ("true", True)))'; }

# ---- an image, a VM's clone of it, a domain running on the clone through librbd -----------
qemu-img create -q -f raw "$T/img/base.raw" 64M
qemu-io -f raw -c 'write -P 0x11 0 1M' "$T/img/base.raw" >/dev/null
scratch_dir SAFE /var/tmp/onestor-ceph-live.XXXX
cp "$T/img/base.raw" "$SAFE/base.raw"
expect_ok "DS cp: the image one/one-9" "$D/cp" "$(cdump PATH="$SAFE/base.raw")" 9
vm_xml 46 host01 ceph "0:YES:one/one-9:64:64:raw:ceph:vda"
expect_ok "clone: VM 46's disk" "$TM/clone" "frontend:one/one-9" "host01:$V/disk.0" 46 1
check "the disk is an RBD clone of one/one-9@snap" test "$(parent_of one/one-9-46-0)" = "one/one-9@snap"

cat >"$T/dom.xml" <<XML
<domain type='qemu'><name>$DOM</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='network' device='disk'><driver name='qemu' type='raw' cache='none'/>
      <source protocol='rbd' name='one/one-9-46-0'><config file='$CONF'/></source>
      <target dev='vda' bus='virtio'/></disk>
    <graphics type='vnc' autoport='yes' listen='127.0.0.1'/></devices></domain>
XML
start_domain_from "$T/dom.xml" "$DOM" || give_up "QEMU starts the domain on the RBD disk" "$T/libvirtd.log"
pass "QEMU starts the domain on the RBD disk"
check "the domain runs" state_is running
vda_is_rbd() { "${VIRSH[@]}" domblklist "$DOM" | grep -q 'vda *one/one-9-46-0'; }
check "QEMU has the RBD volume open as vda" vda_is_rbd

echo "# live snapshots"
gw 0xa1 1
check "the guest's write reached the volume" snap_reads one/one-9-46-0 0xa1 1
check "libvirt's reason before: booted" test "$(reason)" = "running (booted)"
expect_ok "snap_create_live 0 while the domain runs" "$TM/snap_create_live" "host01:$V/disk.0" 0 46 1
check "the domain runs after it" state_is running
check "... and was suspended and resumed around the snapshot (no agent): '$(reason)'" test "$(reason)" = "running (unpaused)"
check "the snapshot exists and is protected" test "$(protected one/one-9-46-0)" = "0"
gw 0xa2 1
gw 0xa2 2
expect_ok "snap_create_live 1" "$TM/snap_create_live" "host01:$V/disk.0" 1 46 1
gw 0xa3 1
check "snapshot 0 reads as the disk was then (0xa1 at 1 MiB)" snap_reads one/one-9-46-0@0 0xa1 1
check "snapshot 1 reads as the disk was then (0xa2 at 1 and 2 MiB)" snap_reads one/one-9-46-0@1 0xa2 1 2
check "the running disk has the guest's last write" snap_reads one/one-9-46-0 0xa3 1
check "the image is untouched (0x11 at 0)" snap_reads one/one-9 0x11 0

echo "# refusals and failures leave the domain running and no snapshot"
expect_error "a snapshot id that exists is refused" "already exists" "$TM/snap_create_live" "host01:$V/disk.0" 1 46 1
check "the domain runs" state_is running
check "snapshots: 0 1" test "$(snaps_of one/one-9-46-0)" = "0 1"
# the VM's DEPLOY_ID names no domain on the host: the quiesce fails, before any snapshot
sed -i 's|<DEPLOY_ID>one-46</DEPLOY_ID>|<DEPLOY_ID>one-4711</DEPLOY_ID>|' "$T/vms/46.xml"
expect_error "no such domain: the quiesce fails" "one-4711" "$TM/snap_create_live" "host01:$V/disk.0" 2 46 1
check "no snapshot 2" test "$(snaps_of one/one-9-46-0)" = "0 1"
sed -i 's|<DEPLOY_ID>one-4711</DEPLOY_ID>|<DEPLOY_ID>-one-46</DEPLOY_ID>|' "$T/vms/46.xml"
expect_error "a DEPLOY_ID that reads as an option is a name to virsh (no such domain)" "-one-46" "$TM/snap_create_live" "host01:$V/disk.0" 2 46 1
sed -i 's|<DEPLOY_ID>-one-46</DEPLOY_ID>|<DEPLOY_ID>one-46</DEPLOY_ID>|' "$T/vms/46.xml"
# the snapshot itself fails after the domain was quiesced: a user who may read the volume
# (the question passes) but not write to it
"${CA[@]}" auth get-or-create client.reader mon 'profile rbd' osd 'profile rbd-read-only pool=one' >/dev/null 2>&1
"${CA[@]}" auth print-key client.reader >"$CL/keyring/reader.key" 2>/dev/null
sed -i "s|<CEPH_USER>oneadmin</CEPH_USER><CEPH_KEY>[^<]*</CEPH_KEY>|<CEPH_USER>reader</CEPH_USER><CEPH_KEY>$CL/keyring/reader.key</CEPH_KEY>|" "$T/vms/46.xml"
expect_error "a read-only user: the snapshot fails with a clear error" "cannot snapshot" "$TM/snap_create_live" "host01:$V/disk.0" 2 46 1
sed -i "s|<CEPH_USER>reader</CEPH_USER><CEPH_KEY>[^<]*</CEPH_KEY>|<CEPH_USER>oneadmin</CEPH_USER><CEPH_KEY>$KEY</CEPH_KEY>|" "$T/vms/46.xml"
check "the domain runs after all of them (not left paused)" state_is running
check "snapshots still: 0 1" test "$(snaps_of one/one-9-46-0)" = "0 1"
expect_ok "snap_create_live 2 works again" "$TM/snap_create_live" "host01:$V/disk.0" 2 46 1
check "the domain runs" state_is running

echo "# cpds.ssh of a running VM's local disk (a hot save-as, LCM_STATE 26): read with the guest quiesced"
# (disk 1: a copy of one/one-9 in the host's file, as an ssh system datastore has it)
sed -i 's|^</TEMPLATE><HISTORY_RECORDS>|<DISK><DISK_ID>1</DISK_ID><CLONE>NO</CLONE><SOURCE>one/one-9</SOURCE><SIZE>64</SIZE><FORMAT>raw</FORMAT><TM_MAD>ceph</TM_MAD><TARGET>vdb</TARGET><DISK_TYPE>FILE</DISK_TYPE>'"$VM_DISK_EXTRA"'</DISK></TEMPLATE><HISTORY_RECORDS>|' "$T/vms/46.xml"
check "VM 46 has its disk 1 (DISK_TYPE FILE)" grep -q '<DISK_ID>1</DISK_ID>' "$T/vms/46.xml"
mkdir -p "$V" && qemu-img create -q -f raw "$V/disk.1" 16M && qemu-io -f raw -c 'write -P 0x5c 0 1M' "$V/disk.1" >/dev/null
set_lcm 46 26
sed -i 's|<DEPLOY_ID>one-46</DEPLOY_ID>|<DEPLOY_ID>one-4711</DEPLOY_ID>|' "$T/vms/46.xml"
expect_error "with no such domain the quiesce fails: it is attempted" "one-4711" "$TM/cpds.ssh" "host01:$V/disk.1" one/one-70 -1 46 1
check "... no image made" test -z "$(pool_ls | grep -w one-70)"
sed -i 's|<DEPLOY_ID>one-4711</DEPLOY_ID>|<DEPLOY_ID>one-46</DEPLOY_ID>|' "$T/vms/46.xml"
expect_ok "cpds.ssh of the running VM's disk.1" "$TM/cpds.ssh" "host01:$V/disk.1" one/one-70 -1 46 1
check "the domain runs after it" state_is running
check "one/one-70 holds the file's bytes" test "$(rsum one/one-70)" = "$(sum "$V/disk.1")"
set_lcm 46 3
expect_ok "rm one/one-70" "$D/rm" "$(cdump SOURCE=one/one-70 IMAGE_ID=70)" 70

echo "# after shutdown: revert, delete"
"${VIRSH[@]}" shutdown "$DOM" >/dev/null 2>&1
"${VIRSH[@]}" destroy "$DOM" >/dev/null 2>&1
check "the domain is gone" gone
expect_ok "snap_revert 0" "$TM/snap_revert" "host01:$V/disk.0" 0 46 1
check "the disk reads as snapshot 0 (0xa1 at 1 MiB)" snap_reads one/one-9-46-0 0xa1 1
check "... and the image's data at 0" snap_reads one/one-9-46-0 0x11 0
for s in 0 1 2; do expect_ok "snap_delete $s" "$TM/snap_delete" "host01:$V/disk.0" "$s" 46 1; done
check "no snapshots left" test -z "$(snaps_of one/one-9-46-0)"
expect_ok "delete the VM's disk" "$TM/delete" "host01:$V/disk.0" 46 1
expect_ok "rm the image" "$D/rm" "$(cdump SOURCE=one/one-9 IMAGE_ID=9)" 9
check "the pool is empty" test -z "$(pool_ls)"
e2e_finish

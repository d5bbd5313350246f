#!/usr/bin/env bash
# TM_MAD=qcow2 on a running VM: a real libvirtd and QEMU (TCG; no guest OS, the disk only
# has to be attached) started by this suite inside its own mount namespace, so QEMU sees the
# same datastore paths as the test hosts. snap_create_live switches the running disk onto a
# new layer (no guest agent here: the domain is suspended around it); after shutdown,
# snap_revert gives the snapshot's content. A save-as of the running disk (LCM_STATE 26)
# exports its content. Fails, never skips, when libvirtd or QEMU cannot start.
source "$(dirname "$0")/lib.sh"
e2e_init "$@" shared
V=$DS/0/42
# libvirt with a configuration of this suite's own (bind-mounted in this namespace only).
cat > "$T/qemu.conf" <<CFG
user = "root"
group = "root"
dynamic_ownership = 0
security_driver = "none"
namespaces = [ ]
remember_owner = 0
CFG
mount --bind "$T/qemu.conf" /etc/libvirt/qemu.conf
mkdir -p /run/libvirt
virtlogd --pid-file="$T/virtlogd.pid" >"$T/virtlogd.log" 2>&1 &
VL=$!
libvirtd --pid-file="$T/libvirtd.pid" >"$T/libvirtd.log" 2>&1 &
LV=$!
stop_libvirt() {
    virsh -c qemu:///system destroy one-42 >/dev/null 2>&1
    kill "$LV" "$VL" 2>/dev/null; wait "$LV" "$VL" 2>/dev/null
    umount /etc/libvirt/qemu.conf 2>/dev/null
    e2e_cleanup
}
trap stop_libvirt EXIT
for _ in $(seq 1 300); do virsh -c qemu:///system version >/dev/null 2>&1 && break; sleep 0.1; done
check "libvirtd answers" virsh -c qemu:///system version

mkdir -p "$DS/1"
qemu-img create -q -f raw "$DS/1/base" 64M
qemu-io -f raw -c 'write -P 0x11 0 1M' "$DS/1/base" >/dev/null
vm_xml 42 host01 shared "0:YES:$DS/1/base:64:64:raw:qcow2:vda"
expect_ok "clone" "$R/tm/qcow2/clone" "frontend:$DS/1/base" "host01:$V/disk.0" 42 1
on host01 qemu-io -f qcow2 -c 'write -P 0xa0 1M 1M' "$V/disk.0" >/dev/null
cat > "$T/dom.xml" <<XML
<domain type='qemu'><name>one-42</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='$V/disk.0'/>
      <target dev='vda' bus='virtio'/></disk>
    <graphics type='vnc' autoport='yes' listen='127.0.0.1'/></devices></domain>
XML
check "the domain starts under QEMU" virsh -c qemu:///system create "$T/dom.xml"
check "the domain runs" sh -c "virsh -c qemu:///system domstate one-42 | grep -q running"

expect_ok "snap_create_live 0" "$R/tm/qcow2/snap_create_live" "host01:$V/disk.0" 0 42 1
check "no guest agent: the driver suspended and resumed the domain" grep -q "suspended for the snapshot" <<<"$ERR"
check "the domain runs again" sh -c "virsh -c qemu:///system domstate one-42 | grep -q running"
check "QEMU now writes to layer 1" sh -c "virsh -c qemu:///system domblklist one-42 | grep -q 'disk.0.snap/1'"
check "disk.0 -> layer 1" test "$(readlink "$V/disk.0")" = disk.0.snap/1

# save-as of the running disk (LCM_STATE 26)
sed -i 's|<LCM_STATE>3</LCM_STATE>|<LCM_STATE>26</LCM_STATE>|' "$T/vms/42.xml"
expect_ok "cpds of the running disk" "$R/tm/qcow2/cpds" "host01:$V/disk.0" "$DS/1/saved" -1 42 1
echo "# save-as path: $(grep -q 'blockcopy failed' <<<"$ERR" && echo 'quiesced qemu-img convert' || echo blockcopy)"
check "the export holds the disk's content" sh -c "qemu-io -f qcow2 -c 'read -P 0xa0 1M 1M' '$DS/1/saved' >/dev/null"
check "the export stands alone" test -z "$(qemu-img info --output=json "$DS/1/saved" | grep backing-filename)"
sed -i 's|<LCM_STATE>26</LCM_STATE>|<LCM_STATE>3</LCM_STATE>|' "$T/vms/42.xml"

virsh -c qemu:///system destroy one-42 >/dev/null
# what "the guest" writes after the snapshot goes to layer 1; revert must drop it
on host01 qemu-io -f qcow2 -c 'write -P 0xa1 1M 1M' "$V/disk.0" >/dev/null
expect_ok "snap_revert 0 after shutdown" "$R/tm/qcow2/snap_revert" "host01:$V/disk.0" 0 42 1
check "the disk reads the live snapshot's content" sh -c "qemu-io -f qcow2 -c 'read -P 0xa0 1M 1M' '$V/disk.0' >/dev/null"
check "the chain is clean" qemu-img check -q "$V/disk.0"
e2e_finish

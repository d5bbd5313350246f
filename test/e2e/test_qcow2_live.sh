#!/usr/bin/env bash
# TM_MAD=qcow2 on a running VM: a real libvirtd and QEMU (TCG; no guest OS, the disk only has
# to be attached) started by this suite inside its own mount namespace, with private libvirt
# directories (nothing of the machine's libvirt is used or touched) and a qemu.conf of its
# own. The driver runs `virsh` on host01 over ssh, which reaches this libvirtd. "The guest"
# writes through QEMU itself (HMP qemu-io on the virtio disk).
#   snap_create_live switches the running disk onto a new layer (no guest agent: the domain
#   is suspended around it); after shutdown, snap_revert gives exactly the snapshot's
#   content; a save-as of the running disk (LCM_STATE 26) exports its content, through
#   blockcopy and through the quiesced fallback. TM_MAD=ssh: snap_create_live is libvirt's
#   full copy of the running disk (the same two ways), reverted after shutdown.
# Fails, never skips, when libvirtd or QEMU cannot start.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/qcow2_lib.sh"
source "$(dirname "$0")/libvirt_lib.sh"
e2e_before_hosts() { libvirt_private; }
e2e_init "$@" shared
V=$DS/0/42
CAP=$T/cap
mkdir -p "$CAP" "$DS/1"

stop_libvirt() {
    libvirt_stop one-42 one-43
    e2e_cleanup
}
trap stop_libvirt EXIT
trap 'exit 1' INT TERM
libvirt_start

# ---- helpers ---------------------------------------------------------------------------
# (the domain: DOM, default one-42)
# the source QEMU has open for vda
source_of() { "${VIRSH[@]}" domblklist "${DOM:-one-42}" | awk -v t="$1" '$1 == t {print $2}'; }
vda_is() { [ "$(source_of vda)" = "$1" ] || { echo "vda is $(source_of vda), wanted $1"; return 1; }; }
running_on() { state_is running && vda_is "$1"; }
gone() { ! "${VIRSH[@]}" domstate "${DOM:-one-42}" >/dev/null 2>&1; }
err_has() { local s; for s in "$@"; do grep -qF -- "$s" <<<"$ERR" || { echo "not in the log: $s"; return 1; }; done; }
standalone_clean() { [ -z "$(backing "$1")" ] && qemu-img check -q "$1"; }

# ---- a running domain on a qcow2 clone --------------------------------------------------
qemu-img create -q -f raw "$DS/1/base" 64M
qemu-io -f raw -c 'write -P 0x11 0 1M' "$DS/1/base" >/dev/null
vm_xml 42 host01 shared "0:YES:$DS/1/base:64:64:raw:qcow2:vda"
expect_ok "clone" "$R/tm/qcow2/clone" "frontend:$DS/1/base" "host01:$V/disk.0" 42 1
qemu-io -f qcow2 -c 'write -P 0xa0 1M 1M' "$V/disk.0" >/dev/null
mkdir -p "$T/ctx" && echo "ONE=1" > "$T/ctx/context.sh" && genisoimage -quiet -o "$T/context.iso" -V CONTEXT "$T/ctx"
domain_xml one-42 "$V/disk.0" qcow2 "
    <disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='$T/context.iso'/>
      <target dev='hda' bus='ide'/><readonly/></disk>" >"$T/dom.xml"
start_domain() { start_domain_from "${1:-$T/dom.xml}" "${DOM:-one-42}"; }  # [DOMAIN XML]
start_domain || give_up "QEMU starts the domain" "$T/libvirtd.log"
pass "QEMU starts the domain"
check "the domain runs" state_is running
host_sees() { [ "$(on host01 virsh -q -c qemu:///system domstate one-42 | head -1)" = running ]; }
check "host01's virsh sees it: the same libvirtd" host_sees

gw 0xb0 2
check "the guest's write reached the disk" r "$V/disk.0" 0xb0 2
capture s0 "$V/disk.0"

# ---- snap_create_live -------------------------------------------------------------------
expect_ok "snap_create_live 0" "$R/tm/qcow2/snap_create_live" "host01:$V/disk.0" 0 42 1
check "no guest agent: the driver suspended the domain around the snapshot" err_has "suspended for the snapshot"
check "the domain runs again (resumed)" state_is running
check "QEMU now writes to layer 1" vda_is "$V/disk.0.snap/1"
check "the context CD-ROM was left alone" test "$(source_of hda)" = "$T/context.iso"
check "disk.0 -> disk.0.snap/1" link_is "$V/disk.0" disk.0.snap/1
check "layer 1 backs onto layer 0 by relative name" test "$(backing "$V/disk.0.snap/1")" = disk.0.snap/0
check "no snapshot XML left behind" test -z "$(find "$V" -name '.snapshot-*')"
gw 0xb1 2
gw 0xb1 3
check "the guest's writes after the snapshot land in layer 1" r "$V/disk.0.snap/1" 0xb1 2
check "layer 0 keeps exactly the snapshot's content" same "$V/disk.0.snap/0" s0
capture live "$V/disk.0"
echo "# libvirt's chain for vda: $("${VIRSH[@]}" dumpxml one-42 | grep -o "source file='[^']*disk[^']*'" | tr '\n' ' ')"

# ---- save-as of the running disk (LCM_STATE 26 = HOTPLUG_SAVEAS) ------------------------
VM_LCM_STATE=26 vm_xml 42 host01 shared "0:YES:$DS/1/base:64:64:raw:qcow2:vda"
expect_ok "cpds of the running disk" "$R/tm/qcow2/cpds" "host01:$V/disk.0" "$DS/1/saved" -1 42 1
if grep -q "with virsh blockcopy" <<<"$ERR"; then echo "# save-as path: virsh blockcopy"; else echo "# save-as path: quiesced qemu-img convert"; fi
check "blockcopy did the copy (the log says so)" err_has "with virsh blockcopy"
check "the export holds exactly the running disk's content" same "$DS/1/saved" live
check "the export stands alone and is clean" standalone_clean "$DS/1/saved"
check "the domain still runs on layer 1 (blockcopy did not pivot)" running_on "$V/disk.0.snap/1"
# the fallback: a virsh that refuses blockcopy (e.g. an older libvirt)
cat > "$T/bin/virsh-noblockcopy" <<'SH'
#!/bin/sh
for a in "$@"; do [ "$a" = blockcopy ] && { echo "error: blockcopy refused by the test" >&2; exit 1; }; done
exec virsh "$@"
SH
chmod +x "$T/bin/virsh-noblockcopy"
ONESTOR_VIRSH=$T/bin/virsh-noblockcopy expect_ok "cpds of the running disk, blockcopy refused" \
    "$R/tm/qcow2/cpds" "host01:$V/disk.0" "$DS/1/saved2" -1 42 1
check "the fallback ran: the domain was suspended for the copy" \
    err_has "blockcopy failed (error: blockcopy refused by the test)" "suspended"
check "the fallback export holds exactly the running disk's content" same "$DS/1/saved2" live
check "the fallback export stands alone and is clean" standalone_clean "$DS/1/saved2"
check "the domain runs again on layer 1 after the fallback" running_on "$V/disk.0.snap/1"
vm_xml 42 host01 shared "0:YES:$DS/1/base:64:64:raw:qcow2:vda"

# ---- a second live snapshot, shutdown, revert -------------------------------------------
gw 0xb2 4
capture s1 "$V/disk.0"
expect_ok "snap_create_live 1" "$R/tm/qcow2/snap_create_live" "host01:$V/disk.0" 1 42 1
check "QEMU now writes to layer 2" vda_is "$V/disk.0.snap/2"
gw 0xb3 2
check "the guest's write lands in layer 2" r "$V/disk.0.snap/2" 0xb3 2
check "layer 1 keeps exactly snapshot 1" same "$V/disk.0.snap/1" s1
expect_error "a live snapshot onto an existing layer is refused" "already exists" \
    "$R/tm/qcow2/snap_create_live" "host01:$V/disk.0" 0 42 1
check "and QEMU stays on layer 2" vda_is "$V/disk.0.snap/2"
"${VIRSH[@]}" destroy one-42 >/dev/null
check "the domain is shut down" gone
expect_error "snap_create_live without a running domain fails" "cannot suspend domain 'one-42'" \
    "$R/tm/qcow2/snap_create_live" "host01:$V/disk.0" 2 42 1
check "and leaves no layer behind, disk.0 unmoved" \
    sh -c "test ! -e '$V/disk.0.snap/3' && test \"\$(readlink '$V/disk.0')\" = disk.0.snap/2 && test -z \"\$(find '$V' -name '.snapshot-*' -o -name '*onestor-tmp*')\""
expect_ok "snap_revert 0 after shutdown" "$R/tm/qcow2/snap_revert" "host01:$V/disk.0" 0 42 1
check "the disk reads exactly the live snapshot 0's content" same "$V/disk.0" s0
check "the guest's later writes are gone" r "$V/disk.0" 0x00 3
expect_ok "snap_revert 1" "$R/tm/qcow2/snap_revert" "host01:$V/disk.0" 1 42 1
check "the disk reads exactly snapshot 1" same "$V/disk.0" s1
check "qemu-img check clean on every layer" sh -c "for f in '$V'/disk.0.snap/[0-9]*; do qemu-img check -q \"\$f\" || exit 1; done"
check "chain 2 -> 1 -> 0 -> image" test "$(qemu-img info --backing-chain "$V/disk.0" | grep -c '^image:')" = 4

# ---- the reverted disk boots again --------------------------------------------------------
check "QEMU starts on the reverted chain" start_domain
gw 0xc0 5
check "and writes to the active layer" r "$V/disk.0.snap/2" 0xc0 5
"${VIRSH[@]}" destroy one-42 >/dev/null 2>&1

# ---- TM_MAD=ssh: a live snapshot is libvirt's full copy of the running raw disk -----------
# (tm/ssh works on host01's view of the system datastore; shared here, which it does not mind)
export DOM=one-43
W=$DS/0/43
mkdir -p "$W"
qemu-img create -q -f raw "$W/disk.0" 16M
qemu-io -f raw -c 'write -P 0x21 0 1M' "$W/disk.0" >/dev/null
vm_xml 43 host01 ssh "0:YES:$DS/1/base:16:16:raw:ssh:vda"
sed -e "s|<name>one-42</name>|<name>one-43</name>|" -e "s|'$V/disk.0'|'$W/disk.0'|" -e "s|type='qcow2'|type='raw'|" \
    "$T/dom.xml" >"$T/dom43.xml"
check "ssh: QEMU starts a domain on a raw disk" start_domain "$T/dom43.xml"
gw 0x22 2
capture a0 "$W/disk.0" raw
expect_ok "ssh: snap_create_live 0" "$R/tm/ssh/snap_create_live" "host01:$W/disk.0" 0 43 1
check "ssh: copied by virsh blockcopy (the log says so)" err_has "with virsh blockcopy"
check "ssh: the snapshot holds exactly the running disk's content, raw" same "$W/disk.0.snap/0" a0 raw
check "ssh: the domain still runs on disk.0 (blockcopy did not pivot)" running_on "$W/disk.0"
gw 0x23 3
check "ssh: the guest's later write is in the disk, not in the snapshot" \
    eval 'r "$W/disk.0" 0x23 3 raw && r "$W/disk.0.snap/0" 0x00 3 raw'
expect_error "ssh: a live snapshot onto an existing one is refused" "already exists" \
    "$R/tm/ssh/snap_create_live" "host01:$W/disk.0" 0 43 1
capture a1 "$W/disk.0" raw
ONESTOR_VIRSH=$T/bin/virsh-noblockcopy expect_ok "ssh: snap_create_live 1, blockcopy refused" \
    "$R/tm/ssh/snap_create_live" "host01:$W/disk.0" 1 43 1
check "ssh: the fallback ran with the domain suspended, then resumed" \
    eval 'err_has "blockcopy failed (error: blockcopy refused by the test)" "suspended" && running_on "$W/disk.0"'
check "ssh: snapshot 1 holds exactly the disk's content then" same "$W/disk.0.snap/1" a1 raw
# From 6.2 tm/shared is the qcow2-or-copy driver: a raw disk's live snapshot is a copy of the
# running disk (shared_qcow2.cpp); a 5.x tm/shared has none.
capture a2 "$W/disk.0" raw
ONESTOR_PROTOCOL=6.10 expect_ok "6.10's tm/shared: snap_create_live 2 of a raw disk" \
    "$R/tm/shared/snap_create_live" "host01:$W/disk.0" 2 43 1
check "6.10's tm/shared: snapshot 2 holds exactly the running disk's content" same "$W/disk.0.snap/2" a2 raw
check "6.10's tm/shared: the domain still runs on disk.0" running_on "$W/disk.0"
ONESTOR_PROTOCOL=5 expect_error "5.12's tm/shared: snap_create_live is not supported" "not supported" \
    "$R/tm/shared/snap_create_live" "host01:$W/disk.0" 3 43 1
"${VIRSH[@]}" destroy one-43 >/dev/null 2>&1
check "ssh: the domain is shut down" gone
expect_ok "ssh: snap_revert 0 after shutdown" "$R/tm/ssh/snap_revert" "host01:$W/disk.0" 0 43 1
check "ssh: the disk reads exactly live snapshot 0" same "$W/disk.0" a0 raw
check "ssh: no temporary left" test -z "$(find "$W" -name '*onestor-tmp*')"
e2e_finish

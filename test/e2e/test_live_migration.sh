#!/usr/bin/env bash
# Live migration with local disks (TM_MAD=ssh, a 6.10 caller) between two real libvirtds: each
# test host gets its own, started inside that host's mount namespace with private libvirt
# directories (so host01's virsh reaches host01's daemon, whose QEMU opens host01's
# datastore tree), a qemu.conf of this suite's and distinct host UUIDs. The VM runs a
# QEMU/TCG domain (no guest OS; "the guest" writes through QEMU itself). As 6.10's oned does
# it: tm/ssh premigrate, the VMM's part (the disk files made on the destination, then
# `virsh migrate --live --copy-storage-all` run on the source), tm/ssh postmigrate. The disk
# arrives with the guest's bytes, and the source's copy goes only with postmigrate; a failed
# migration's failmigrate removes the destination's partial copy and leaves the source as it
# was. Fails, never skips, when libvirtd or QEMU cannot start.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/qcow2_lib.sh"
e2e_init "$@" ssh
ssh_mux

CAP=$T/cap
V=$DS/0/42
mkdir -p "$CAP" "$DS/1"
echo 6.10.0 > "$R/VERSION"
grep -v '^PROTOCOL=' "$ONESTOR_CONF" > "$T/conf" && mv "$T/conf" "$ONESTOR_CONF"
printf 'REMOTE_ONESTOR=%s\nHOST_SSH=ssh -F %s\n' "$R/onestor" "$T/hosts/ssh_config" >> "$ONESTOR_CONF"

LIBVIRTDS=()
stop_all() {
    local h p
    for h in host01 host02; do
        virsh_at "$h" destroy one-42 >/dev/null 2>&1
        p=$(cat "$T/lv-$h/run/libvirt/qemu/one-42.pid" 2>/dev/null) && kill "$p" 2>/dev/null  # (a QEMU its daemon left)
    done
    for p in ${LIBVIRTDS[@]+"${LIBVIRTDS[@]}"}; do kill "$p" 2>/dev/null; done
    e2e_cleanup
}
trap stop_all EXIT
# virsh_at HOST ARGS...: that host's libvirtd, through its socket's real path
virsh_at() { local h=$1; shift; virsh -q -c "qemu+unix:///system?socket=$T/lv-$h/run/libvirt/libvirt-sock" "$@"; }

# ---- a libvirtd per host, inside the host's own mount namespace --------------------------
for n in 1 2; do
    h=host0$n d=$T/lv-$h
    for x in run/libvirt var/lib/libvirt var/log/libvirt var/cache/libvirt; do mkdir -p "$d/$x"; done
    cp -a /etc/libvirt "$d/etc" && rm -f "$d"/etc/qemu/networks/autostart/*
    printf '%s\n' 'user = "root"' 'group = "root"' 'dynamic_ownership = 0' 'remember_owner = 0' 'security_driver = "none"' \
        'namespaces = [ ]' 'cgroup_controllers = [ ]' 'stdio_handler = "file"' >"$d/etc/qemu.conf"
    echo "host_uuid = \"00000000-0000-4000-8000-00000000000$n\"" >>"$d/etc/libvirtd.conf"  # (not "the same host")
    read -r sshd _ <"$T/hosts/$h.pid"
    nsenter -t "$sshd" -m sh -c 'd=$1
        for x in /run/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt; do mount --bind "$d$x" "$x" || exit 1; done
        mount --bind "$d/etc" /etc/libvirt && exec libvirtd --pid-file="$d/libvirtd.pid"' sh "$d" >"$d/libvirtd.log" 2>&1 &
    LIBVIRTDS+=($!)
done
for h in host01 host02; do
    for _ in $(seq 1 100); do virsh_at "$h" version >/dev/null 2>&1 && break; sleep 0.1; done
    if virsh_at "$h" version >/dev/null 2>&1 && [ "$(on "$h" virsh -q -c qemu:///system hostname 2>/dev/null)" != "" ]; then
        pass "$h: its own libvirtd answers, there and through its socket"
    else
        fail "$h: its own libvirtd answers"; tail -20 "$T/lv-$h/libvirtd.log"; e2e_finish; exit 1
    fi
done

# ---- the VM on host01 -----------------------------------------------------------------------
make_sparse "$DS/1/img" 16
vm_xml 42 host01 ssh "0:YES:$DS/1/img:16:16:raw:ssh:vda"
TMPL=$(base64 -w0 "$T/vms/42.xml")
expect_ok "deploy: tm/ssh clone to host01" "$R/tm/ssh/clone" "frontend:$DS/1/img" "host01:$V/disk.0" 42 1
domain_xml one-42 "$V/disk.0" raw >"$T/dom.xml"
if virsh_at host01 create "$T/dom.xml" >/dev/null 2>"$T/create.err"; then pass "QEMU runs the VM on host01"; else
    fail "QEMU runs the VM on host01: $(cat "$T/create.err")"; tail -20 "$T/lv-host01/libvirtd.log"; e2e_finish; exit 1; fi
runs_on() { [ "$(virsh_at "$1" domstate one-42 2>/dev/null | head -1)" = running ]; }
# gw HOST PATTERN OFFSET_MIB: the guest writes 1 MiB through QEMU's virtio disk, and flushes
gw() {
    local out cmd
    for cmd in "write -P $2 $3M 1M" flush; do
        out=$(virsh_at "$1" qemu-monitor-command one-42 --hmp "qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend \"$cmd\"" 2>&1)
        [ $? -eq 0 ] && [ -z "$(tr -d '[:space:]' <<<"$out")" ] || { fail "guest $cmd: $out"; return 1; }
    done
}
gw host01 0x5a 3
capture before "$(at host01 "$V/disk.0")" raw

# The VMM's part of a live migration with local disks: the disk files made on the destination
# (empty, the source's size), then libvirt copies them while the guest runs.
vmm_prepare() {  # vmm_prepare SRC DST
    on "$2" mkdir -p "$V" && on "$2" truncate -s "$(stat -c %s "$(at "$1" "$V/disk.0")")" "$V/disk.0"
}
vmm_migrate() {  # vmm_migrate SRC DST (run on SRC, as the VMM's migrate runs there)
    on "$1" virsh -q -c qemu:///system migrate --live --copy-storage-all one-42 \
        "qemu+unix:///system?socket=$T/lv-$2/run/libvirt/libvirt-sock" >/dev/null
}

# ---- host01 -> host02 -----------------------------------------------------------------------
expect_ok "premigrate host01 -> host02" "$R/tm/ssh/premigrate" host01 host02 "$V" 42 0 "$TMPL"
check "premigrate left the source as it was" eval 'runs_on host01 && same "$(at host01 "$V/disk.0")" before raw'
check "the VMM's part: disk files on host02, then virsh migrate --live --copy-storage-all" eval 'vmm_prepare host01 host02 && vmm_migrate host01 host02'
check "the VM runs on host02, no longer on host01" eval 'runs_on host02 && ! runs_on host01'
check "before postmigrate the source's copy is still there" test -f "$(at host01 "$V/disk.0")"
vm_xml 42 host02 ssh "0:YES:$DS/1/img:16:16:raw:ssh:vda"
expect_ok "postmigrate host01 -> host02" "$R/tm/ssh/postmigrate" host01 host02 "$V" 42 0 "$TMPL"
check "postmigrate removed host01's copy" test ! -e "$(at host01 "$V")"
check "host02's disk holds the guest's bytes (while the VM runs there)" same "$(at host02 "$V/disk.0")" before raw
gw host02 0x6b 5
check "the guest writes on host02" r "$(at host02 "$V/disk.0")" 0x6b 5 raw

# ---- host02 -> host01, failed: failmigrate ----------------------------------------------------
capture running "$(at host02 "$V/disk.0")" raw
expect_ok "premigrate host02 -> host01" "$R/tm/ssh/premigrate" host02 host01 "$V" 42 0 "$TMPL"
check "the VMM made host01's disk files, then the migration failed" eval 'vmm_prepare host02 host01 && test -f "$(at host01 "$V/disk.0")"'
expect_ok "failmigrate host02 -> host01" "$R/tm/ssh/failmigrate" host02 host01 "$V" 42 0 "$TMPL"
check "failmigrate removed host01's partial copy" test ! -e "$(at host01 "$V")"
check "the source is as it was: the VM runs on host02 with its bytes" eval 'runs_on host02 && same "$(at host02 "$V/disk.0")" running raw'
virsh_at host02 destroy one-42 >/dev/null 2>&1
expect_ok "delete the VM directory on host02" "$R/tm/ssh/delete" "host02:$V" 42 0
check "nothing left on either host" eval '[ ! -e "$(at host01 "$V")" ] && [ ! -e "$(at host02 "$V")" ]'
e2e_finish

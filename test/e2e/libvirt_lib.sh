#!/usr/bin/env bash
# One libvirtd for a suite whose driver runs `virsh` on host01 (test_qcow2_live.sh,
# test_ceph_live.sh; sourced after lib.sh): private state and configuration inside the
# suite's mount namespace, so it neither meets nor changes the machine's libvirt (sockets,
# domain state, definitions it writes), autostarts no network (no bridge, no address beyond
# loopback) and reads a qemu.conf of its own. Fails, never skips: a live test without
# libvirt proves nothing.

# libvirt_private: the bind mounts; call it from e2e_before_hosts (inside the namespace,
# before the test hosts start, so they see them).
libvirt_private() {
    local d
    for d in /run/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt; do
        mkdir -p "$T/libvirt$d" "$d" && mount --bind "$T/libvirt$d" "$d" || { fail "cannot make $d private"; exit 1; }
    done
    cp -a /etc/libvirt "$T/etc-libvirt" || { fail "cannot copy /etc/libvirt"; exit 1; }
    rm -f "$T"/etc-libvirt/qemu/networks/autostart/*
    cat > "$T/etc-libvirt/qemu.conf" <<CFG
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
namespaces = [ ]
CFG
    mount --bind "$T/etc-libvirt" /etc/libvirt || { fail "cannot make /etc/libvirt private"; exit 1; }
}

VIRSH=(virsh -q -c qemu:///system)
QEMU_PIDS=()  # every QEMU the suite started (libvirt detaches them): killed by PID at the end

# give_up WHAT LOG: the suite fails here
give_up() {
    fail "$1"
    echo "--- $2:"; tail -20 "$2"
    e2e_finish
    exit 1
}

# libvirt_start: virtlogd and libvirtd, answering here and through host01's virsh; their
# stop (libvirt_stop DOMAIN...) is the caller's EXIT trap.
libvirt_start() {
    virtlogd --pid-file="$T/virtlogd.pid" >"$T/virtlogd.log" 2>&1 &
    VL=$!
    libvirtd --pid-file="$T/libvirtd.pid" >"$T/libvirtd.log" 2>&1 &
    LV=$!
    for _ in $(seq 1 100); do "${VIRSH[@]}" version >/dev/null 2>&1 && break; sleep 0.1; done
    "${VIRSH[@]}" version >/dev/null 2>&1 || give_up "libvirtd answers" "$T/libvirtd.log"
    pass "libvirtd answers"
    host_virsh() { on host01 virsh -q -c qemu:///system uri >/dev/null; }
    check "virsh on host01 (where the driver runs it) answers" host_virsh
}

# libvirt_stop DOMAIN...: those domains destroyed, every QEMU started killed, the daemons stopped
libvirt_stop() {
    local p
    for p; do "${VIRSH[@]}" destroy "$p" >/dev/null 2>&1; done
    for p in ${QEMU_PIDS[@]+"${QEMU_PIDS[@]}"}; do kill "$p" 2>/dev/null; done
    kill "${LV:-}" "${VL:-}" 2>/dev/null
    wait "${LV:-}" "${VL:-}" 2>/dev/null
}

# start_domain_from XML_FILE DOMAIN: created (transient), its QEMU's pid kept
start_domain_from() {
    "${VIRSH[@]}" create "$1" >/dev/null 2>"$T/create.err" || { cat "$T/create.err"; return 1; }
    QEMU_PIDS+=("$(cat "/run/libvirt/qemu/$2.pid")")
}

# the domain's state (DOM, default one-42)
state_is() { [ "$("${VIRSH[@]}" domstate "${DOM:-one-42}" 2>/dev/null | head -1)" = "$1" ]; }

# gw PATTERN OFFSET_MIB: "the guest" (domain DOM, default one-42) writes 1 MiB through QEMU's
# virtio disk, and flushes, as a guest's fsync would: QEMU may hold metadata until a flush, and
# the checks read the disk from outside. (HMP answers nothing on success; an error comes back
# as text, with status 0.)
gw() {
    local out cmd
    for cmd in "write -P $1 $2M 1M" flush; do
        out=$("${VIRSH[@]}" qemu-monitor-command "${DOM:-one-42}" --hmp \
            "qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend \"$cmd\"" 2>&1)
        [ $? -eq 0 ] && [ -z "$(tr -d '[:space:]' <<<"$out")" ] || { fail "guest $cmd: $out"; return 1; }
    done
}

#!/usr/bin/env bash
# Real LVM hosts for the fs_lvm tests and benchmark. This kernel has no device-mapper, so
# each hypervisor host is a user-mode-linux kernel (Debian's linux.uml, with dm-mod,
# dm-snapshot and dm-thin-pool) whose root is this machine's own / (hostfs): it runs the
# freshly built onestor and Debian's lvm2, qemu-img and sshd unchanged. host01 and host02
# are two such kernels sharing one block device (a file opened by both, as a SAN LUN is),
# so an LV active on one host is really inactive on the other. They reach each other and
# the front-end (this machine) over a bridge of tap devices.
#
#   lvmhosts.sh start DIR   the hosts, with the volume group vg-one-0 (plus vg-one-100,
#                           a second system datastore); needs a private network namespace
#                           (unshare -n; the bridge and taps vanish with it) and should run
#                           in a private mount namespace (the caller's binds are what the
#                           hosts see of the filesystem)
#   lvmhosts.sh stop DIR    halts them (sync, poweroff), killing what does not stop
#
# DIR/ssh_config names host01 (10.77.0.2) and host02 (10.77.0.3). The UML kernels write
# nothing outside DIR: LVM's backups are off and its lock and run files are in each
# kernel's own /run. LVMHOSTS_SAN_MB sizes the shared device (default 3072).
set -euo pipefail
# shellcheck source=test/hosts/pids.sh
source "$(dirname "$0")/pids.sh"

HOSTS=(host01:10.77.0.2 host02:10.77.0.3)
SAN_MB=${LVMHOSTS_SAN_MB:-3072}

start() {
    local dir=$1 h name ip
    command -v linux.uml >/dev/null || { echo "lvmhosts: linux.uml missing (apt-get install user-mode-linux)" >&2; exit 1; }
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    ip link set lo up
    ip link add name onebr0 type bridge
    ip addr add 10.77.0.1/24 dev onebr0
    ip link set onebr0 up
    keys "$dir"
    # Two LUNs: vg-one-0 and vg-one-100 (a second system datastore, for moves between them).
    truncate -s "${SAN_MB}M" "$dir/san0.img"
    truncate -s 512M "$dir/san1.img"
    cat > "$dir/lvm.conf" <<CFG
# No udev inside the UML: LVM makes its own device nodes. No backups (they would be
# written to this machine's /etc/lvm).
activation { udev_sync = 0 udev_rules = 0 verify_udev_operations = 1 monitoring = 0 }
backup { backup = 0 archive = 0 }
devices { obtain_device_list_from_udev = 0 external_device_info_source = "none" use_devicesfile = 0 }
global { use_lvmpolld = 0 }
CFG
    # (uml_xstate.c: lets this UML start on a CPU with a large XSAVE area, such as AMX)
    gcc -O2 -shared -fPIC -o "$dir/uml_xstate.so" "$(dirname "$0")/uml_xstate.c" ||
        { echo "lvmhosts: cannot build uml_xstate.so" >&2; exit 1; }
    local i=1
    for h in "${HOSTS[@]}"; do
        name=${h%%:*} ip=${h#*:}
        ip tuntap add dev "onetap$i" mode tap
        ip link set "onetap$i" master onebr0 up
        init_script "$dir" "$name" "$ip" "$i" > "$dir/$name.init"
        chmod +x "$dir/$name.init"
        rm -f "$dir/$name.halt" "$dir/$name.ready"
        # A session of its own: the kernel's helper processes share its process group,
        # which stop() ends whole.
        LD_PRELOAD="$dir/uml_xstate.so" setsid linux.uml mem=384M root=/dev/root rootfstype=hostfs rootflags=/ rw \
            init="$dir/$name.init" "ubd0c=$dir/san0.img" "ubd1c=$dir/san1.img" \
            "eth0=tuntap,onetap$i" con=null con0=null,fd:1 </dev/null >"$dir/$name.console" 2>&1 &
        pid_record $! "$dir/$name.pid"
        i=$((i + 1))
    done
    for h in "${HOSTS[@]}"; do wait_up "$dir" "${h%%:*}"; done
    # The volume groups are made once, from host01, as a SAN's would be.
    ssh -F "$dir/ssh_config" host01 'pvcreate -q /dev/ubda /dev/ubdb && vgcreate -q vg-one-0 /dev/ubda && vgcreate -q vg-one-100 /dev/ubdb' \
        >"$dir/vgcreate.log" 2>&1 || { cat "$dir/vgcreate.log" >&2; stop "$dir"; exit 1; }
}

keys() {
    # The suite's own checks reuse one connection per host (a handshake costs ~0.7 s in a
    # UML); onestor's ssh overrides these with its own ControlPath.
    "$(dirname "$0")/testhosts.sh" config "$1" 22 "ControlMaster auto
ControlPath $1/cm-%h
ControlPersist 900" "${HOSTS[@]}"
}

# The UML's PID 1: a plain sh script (values here are this script's own constants).
init_script() {
    local dir=$1 name=$2 ip=$3 i=$4
    cat <<INIT
#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin LVM_SUPPRESS_FD_WARNINGS=1 HOME=/root
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t tmpfs tmpfs /run
ln -sf /proc/self/fd /dev/fd
mkdir -p /run/kroot/lib /run/lock /run/sshd && ln -s /usr/lib/uml/modules /run/kroot/lib/modules
for m in dm-mod dm-snapshot dm-thin-pool; do modprobe -d /run/kroot \$m; done
mount --bind '$dir/lvm.conf' /etc/lvm/lvm.conf
# Root's ~/.bashrc on this machine may do slow things: every ssh command would pay for it.
[ -f /root/.bashrc ] && mount --bind /dev/null /root/.bashrc
hostname $name
ip link set lo up; ip addr add $ip/24 dev eth0; ip link set eth0 up
/usr/sbin/sshd -f '$dir/sshd_config' -o ListenAddress=$ip -o PidFile=none -E '$dir/$name.sshd.log'
: > '$dir/$name.ready'
while [ ! -e '$dir/$name.halt' ]; do sleep 0.3; done
sync
poweroff -f
INIT
}

wait_up() {
    local dir=$1 name=$2 ok=""
    for _ in $(seq 1 300); do
        if [ -e "$dir/$name.ready" ] && ssh -F "$dir/ssh_config" -o BatchMode=yes -o ConnectTimeout=2 "$name" true 2>/dev/null; then ok=1; break; fi
        sleep 0.1
    done
    [ -n "$ok" ] || { echo "lvmhosts: $name did not come up:" >&2; cat "$dir/$name.console" >&2; stop "$dir"; exit 1; }
}

stop() {  # the test data on the SAN files is thrown away, so a halt need not be graceful
    local dir=$1 h name pids
    for h in "${HOSTS[@]}"; do
        ssh -F "$dir/ssh_config" -O exit "${h%%:*}" >/dev/null 2>&1 || true
        : > "$dir/${h%%:*}.halt"
    done
    for h in "${HOSTS[@]}"; do
        name=${h%%:*}
        [ -f "$dir/$name.pid" ] || continue
        for _ in $(seq 1 20); do pid_live "$dir/$name.pid" >/dev/null || break; sleep 0.1; done
        # The kernel and what is left of its session, by PID (never `kill -- -PID` of a
        # PID that may have been given to someone else since: pids.sh).
        pids=$(pid_members "$dir/$name.pid")
        # shellcheck disable=SC2086
        [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
        rm -f "$dir/$name.pid"
    done
    return 0
}

case "${1:-}" in
    start) start "$2" ;;
    stop) stop "$2" ;;
    *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Real hypervisor hosts for the tests and the demo: one sshd per host on its own loopback
# address, each in its own mount namespace where a bind mount gives it its own
# /var/lib/one/datastores (so host01 and host02 see different files under the same path,
# as two machines would). Nothing of the user's ~/.ssh is touched: keys, authorized_keys
# and the client's ssh_config all live in DIR.
#
#   testhosts.sh start DIR LAYOUT   LAYOUT: shared (one datastore tree for all hosts)
#                                           ssh    (a tree of its own per host)
#   testhosts.sh stop DIR           stops the sshd processes it started, by PID
#   testhosts.sh down DIR HOST      stops one host and all it runs (a host that dies mid-transfer)
#   testhosts.sh up DIR HOST        starts it again (after down; sees mounts made since)
#   testhosts.sh config DIR PORT EXTRA HOST:IP...   keys and ssh/sshd configs only (lvmhosts.sh)
#
# DIR/ssh_config names host01 (127.0.0.2) and host02 (127.0.0.3); pass it with ssh -F.
# DIR/NAME.log is the host's sshd log: one "Accepted publickey" line per connection made to
# it (not per command multiplexed over one), which is how tests count ssh handshakes.
# The caller is the front-end and must itself run in a private mount namespace
# (unshare -m) if it binds its own view of /var/lib/one/datastores.
set -euo pipefail
# shellcheck source=test/hosts/pids.sh
source "$(dirname "$0")/pids.sh"

HOSTS=(host01:127.0.0.2 host02:127.0.0.3)
DS_MOUNT=${TESTHOSTS_DS_MOUNT:-/var/lib/one/datastores}
PORT=${TESTHOSTS_PORT:-22}

# config DIR PORT EXTRA HOST:IP...: the keys (made once), authorized_keys, sshd_config and
# the client's ssh_config naming each host; EXTRA is more client options, one per line.
# (test/hosts/lvmhosts.sh uses it for its UML hosts too.)
config() {
    local dir=$1 port=$2 extra=$3 h; shift 3
    [ -f "$dir/hostkey" ] || ssh-keygen -q -t ed25519 -N '' -f "$dir/hostkey"
    [ -f "$dir/clientkey" ] || ssh-keygen -q -t ed25519 -N '' -f "$dir/clientkey"
    cp "$dir/clientkey.pub" "$dir/authorized_keys"
    chmod 600 "$dir/authorized_keys"
    cat > "$dir/sshd_config" <<CFG
Port $port
HostKey $dir/hostkey
AuthorizedKeysFile $dir/authorized_keys
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
MaxSessions 64
MaxStartups 64:30:128
LogLevel INFO
CFG
    : > "$dir/ssh_config"
    for h in "$@"; do
        cat >> "$dir/ssh_config" <<CFG
Host ${h%%:*}
    HostName ${h#*:}
    Port $port
    User root
    IdentityFile $dir/clientkey
    IdentitiesOnly yes
    StrictHostKeyChecking no
    UserKnownHostsFile /dev/null
    LogLevel ERROR
CFG
        [ -z "$extra" ] || sed 's/^/    /' <<<"$extra" >> "$dir/ssh_config"
    done
}

start() {
    local dir=$1 layout=$2
    mkdir -p "$dir" /run/sshd "$DS_MOUNT"
    config "$dir" "$PORT" "" "${HOSTS[@]}"
    local h name ip root
    for h in "${HOSTS[@]}"; do
        name=${h%%:*} ip=${h#*:}
        if [ "$layout" = shared ]; then root=$dir/shared; else root=$dir/$name; fi
        mkdir -p "$root"
        echo "$root" > "$dir/$name.root"
        launch "$dir" "$name" "$ip"
    done
    for h in "${HOSTS[@]}"; do wait_up "$dir" "${h%%:*}"; done
}

launch() {  # launch DIR NAME IP
    local dir=$1 name=$2 ip=$3
    # unshare execs sh, which execs sshd: $! is the sshd's own PID.
    unshare -m --propagation private sh -c \
        'mount --rbind "$1" "$2" && exec /usr/sbin/sshd -D -e -f "$3" -o ListenAddress="$4" -o PidFile=none' \
        sh "$(cat "$dir/$name.root")" "$DS_MOUNT" "$dir/sshd_config" "$ip" >"$dir/$name.log" 2>&1 &
    pid_record $! "$dir/$name.pid"
}

wait_up() {
    local dir=$1 name=$2 ok="" until=$((SECONDS + 30))
    # (30 s: on a loaded machine, with other suites' VMs running, an sshd can take seconds)
    while [ "$SECONDS" -lt "$until" ]; do
        if ssh -F "$dir/ssh_config" -o BatchMode=yes -o ConnectTimeout=2 "$name" true 2>/dev/null; then ok=1; break; fi
        sleep 0.1
    done
    [ -n "$ok" ] || { echo "testhosts: $name did not come up:" >&2; cat "$dir/$name.log" >&2; stop "$dir"; exit 1; }
}

up() {
    local dir=$1 name=$2 h
    for h in "${HOSTS[@]}"; do
        [ "${h%%:*}" = "$name" ] && { launch "$dir" "$name" "${h#*:}"; wait_up "$dir" "$name"; }
    done
}

down() {  # the host dies: its sshd and everything still running in it (sessions, commands)
    local dir=$1 name=$2 pid ns p sig
    [ -f "$dir/$name.pid" ] || return 0
    # Only the sshd this script started (pids.sh): a recycled PID's namespace may be a
    # container's or another suite's host.
    pid=$(pid_live "$dir/$name.pid") || { rm -f "$dir/$name.pid"; return 0; }
    ns=$(readlink "/proc/$pid/ns/mnt" 2>/dev/null || true)
    kill "$pid" 2>/dev/null || true
    # Killing the listening sshd alone leaves its per-connection sshd's (and what they run,
    # ControlMaster sessions included) alive. Every process in the host's own mount namespace
    # descends from the sshd started for it: end them all, each by its PID. Stopping (not a
    # fault) gives them a TERM first, so ssh masters kept on the host remove their sockets
    # (they are in /tmp, which the test hosts share).
    if [ -n "$ns" ] && [ "$ns" != "$(readlink /proc/self/ns/mnt)" ]; then
        for sig in ${DOWN_TERM_FIRST:+TERM} KILL; do
            for p in /proc/[0-9]*; do
                if [ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$ns" ]; then kill -"$sig" "${p#/proc/}" 2>/dev/null || true; fi
            done
            [ "$sig" = TERM ] && sleep 0.2
        done
    fi
    rm -f "$dir/$name.pid"
    return 0
}

stop() {
    local dir=$1 h
    for h in "${HOSTS[@]}"; do DOWN_TERM_FIRST=1 down "$dir" "${h%%:*}"; done
}

case "${1:-}" in
    start) start "$2" "${3:-shared}" ;;
    config) shift; config "$@" ;;
    stop) stop "$2" ;;
    down) down "$2" "$3" ;;
    up) up "$2" "$3" ;;
    *) echo "usage: $0 start DIR shared|ssh | stop DIR | down DIR HOST | up DIR HOST | config DIR PORT EXTRA HOST:IP..." >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# A throw-away single-host Ceph cluster for the `ceph` driver tests, from Debian's packages
# (ceph-mon ceph-mgr ceph-osd ceph-common):
#
#   test/ceph/cluster.sh start DIR     # prints nothing but errors; DIR/ceph.conf is the conf
#   test/ceph/cluster.sh stop DIR      # stops exactly the daemons it started, in order
#   test/ceph/cluster.sh osd-stop DIR  # the OSD only (a failure mid-action)
#   test/ceph/cluster.sh osd-start DIR # back, waiting until it is up and its PGs clean
#
# Everything lives under DIR: the conf, the keyrings, the mon/mgr/osd data, one BlueStore
# OSD on a sparse file, the run dir (admin sockets) and the logs; /etc/ceph is never read or
# written (every tool gets -c DIR/ceph.conf). Daemons listen on 127.0.0.1 only: the mon on
# CEPH_PORT (v2) and CEPH_PORT+1 (v1), the others in CEPH_PORT+2..CEPH_PORT+39
# (default CEPH_PORT: 20000 + 40 x (TESTHOSTS_PORT mod 1000), clear of the suites' own
# test-host ports, else 23410). Each runs in the foreground (-f)
# under setsid, its pid kept in DIR/pids/<name>.
#
# After start:
#   pools `one` (images) and `one_ec` (for EC_POOL_NAME tests: replicated, size 1 -- one OSD
#   cannot hold an erasure-coded pool's k+m chunks on distinct OSDs), both rbd-initialised;
#   client.admin (DIR/keyring/client.admin.keyring) and client.oneadmin, the drivers' user,
#   with `profile rbd` on both pools (keyring DIR/keyring/client.oneadmin.keyring, bare key
#   DIR/keyring/oneadmin.key for --keyfile).
#
# Onto a real cluster this maps as: DIR/ceph.conf is the hosts' /etc/ceph/ceph.conf (or the
# datastore's CEPH_CONF), client.oneadmin is the CEPH_USER whose keyring every bridge and
# hypervisor holds, `one` is POOL_NAME.
set -euo pipefail

cmd=${1:-}
D=${2:-}
[ -n "$cmd" ] && [ -n "$D" ] || { echo "usage: $0 start|stop|osd-stop|osd-start DIR" >&2; exit 2; }

if [ -z "${CEPH_PORT:-}" ]; then
    if [ -n "${TESTHOSTS_PORT:-}" ]; then CEPH_PORT=$((20000 + 40 * (TESTHOSTS_PORT % 1000))); else CEPH_PORT=23410; fi
fi
P=$CEPH_PORT
unset CEPH_ARGS  # a caller's (a --keyring for its own tools) would reach the daemons too
TIMEOUT=${CEPH_START_TIMEOUT:-120}

ceph_admin() { timeout 30 ceph -c "$D/ceph.conf" --connect-timeout 10 "$@"; }

stop_daemon() {  # stop_daemon NAME: SIGTERM, up to 15 s, then SIGKILL
    local f=$D/pids/$1 pid i
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
}

stop() {
    # Order matters: an OSD stopped after the mon waits for it.
    local n
    for n in osd.0 mgr.x mon.a; do stop_daemon "$n"; done
}

start_daemon() {  # start_daemon NAME PROGRAM ARGS...
    local name=$1; shift
    setsid "$@" -c "$D/ceph.conf" -f >>"$D/log/$name.out" 2>&1 </dev/null &
    echo $! > "$D/pids/$name"
}

# wait_for WHAT SECONDS COMMAND...: until COMMAND succeeds.
wait_for() {
    local what=$1 secs=$2 end; shift 2
    end=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        if [ $SECONDS -ge $end ]; then
            echo "ceph test cluster: $what did not happen within $secs s (logs in $D/log)" >&2
            return 1
        fi
        sleep 1
    done
}

osd_up() { ceph_admin osd stat -f json | grep -q '"num_up_osds":1'; }
pgs_clean() {
    local s
    s=$(ceph_admin pg stat -f json) || return 1
    # every PG active+clean: the only state listed is active+clean
    python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["pg_summary"]["num_pg_by_state"]; sys.exit(0 if d["pg_summary"]["num_pgs"]>0 and all(x["name"]=="active+clean" for x in s) else 1)' <<<"$s"
}

start() {
    local port
    for port in $P $((P + 1)); do
        if ss -Hltn "sport = :$port" | grep -q .; then
            echo "ceph test cluster: port $port is busy" >&2
            return 1
        fi
    done
    [ ! -e "$D/ceph.conf" ] || { echo "ceph test cluster: $D already holds one" >&2; return 1; }
    mkdir -p "$D"/{keyring,mon,mgr/ceph-x,osd/0,run,log,pids,crash}
    local fsid
    fsid=$(cat /proc/sys/kernel/random/uuid)
    cat > "$D/ceph.conf" <<EOF
[global]
fsid = $fsid
mon_host = [v2:127.0.0.1:$P,v1:127.0.0.1:$((P + 1))]
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
ms_bind_ipv6 = false
ms_bind_port_min = $((P + 2))
ms_bind_port_max = $((P + 39))
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
run_dir = $D/run
log_file = $D/log/\$name.log
crash_dir = $D/crash
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
mon_allow_pool_size_one = true
mon_allow_pool_delete = true
osd_crush_chooseleaf_type = 0
mon_warn_on_pool_no_redundancy = false
mon_warn_on_insecure_global_id_reclaim_allowed = false
auth_allow_insecure_global_id_reclaim = false
mon_data_avail_warn = 2
mon_data_avail_crit = 1
mon_max_pg_per_osd = 500
# small: the test machine is shared
osd_memory_target = 939524096
bluestore_cache_autotune = false
bluestore_cache_size = 67108864
osd_op_num_shards = 1
osd_op_num_threads_per_shard = 1
mgr_initial_modules = iostat
rbd_default_features = 61

# Keyrings of the daemons and the admin only: client.oneadmin, the drivers' user, must be
# given its key (CEPH_KEY), as on a real host.
[client.admin]
keyring = $D/keyring/\$name.keyring

[mon]
keyring = $D/keyring/\$name.keyring
admin_socket = $D/run/\$name.asok
mon_data = $D/mon/\$cluster-\$id

[mgr]
keyring = $D/keyring/\$name.keyring
admin_socket = $D/run/\$name.asok
mgr_data = $D/mgr/\$cluster-\$id

[osd]
keyring = $D/keyring/\$name.keyring
admin_socket = $D/run/\$name.asok
osd_data = $D/osd/\$id
osd_objectstore = bluestore
bluestore_block_path = $D/osd/block.\$id
bluestore_block_create = true
bluestore_block_size = ${CEPH_OSD_BYTES:-10737418240}
bluestore_fsck_on_mkfs = false
bluestore_fsck_on_mount = false
EOF
    local K=$D/keyring
    ceph-authtool --create-keyring "$K/mon.a.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
    ceph-authtool --create-keyring "$K/client.admin.keyring" --gen-key -n client.admin \
        --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *' >/dev/null
    ceph-authtool "$K/mon.a.keyring" --import-keyring "$K/client.admin.keyring" >/dev/null
    monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$P,v1:127.0.0.1:$((P + 1))]" "$D/monmap" >/dev/null
    ceph-mon -c "$D/ceph.conf" --mkfs -i a --monmap "$D/monmap" --keyring "$K/mon.a.keyring" >>"$D/log/mkfs.out" 2>&1
    start_daemon mon.a ceph-mon -i a
    wait_for "the mon answering" 60 ceph_admin mon stat

    ceph_admin auth get-or-create mgr.x mon 'allow profile mgr' osd 'allow *' mds 'allow *' -o "$K/mgr.x.keyring" 2>/dev/null
    start_daemon mgr.x ceph-mgr -i x

    local uuid secret
    uuid=$(cat /proc/sys/kernel/random/uuid)
    secret=$(ceph-authtool --gen-print-key)
    printf '{"cephx_secret": "%s"}\n' "$secret" > "$D/osd/new.json"
    ceph_admin osd new "$uuid" 0 -i "$D/osd/new.json" >/dev/null
    rm -f "$D/osd/new.json"
    ceph-authtool --create-keyring "$K/osd.0.keyring" --name osd.0 --add-key "$secret" >/dev/null
    ceph-osd -c "$D/ceph.conf" -i 0 --mkfs --osd-uuid "$uuid" >>"$D/log/mkfs.out" 2>&1
    start_daemon osd.0 ceph-osd -i 0
    wait_for "the OSD up" "$TIMEOUT" osd_up

    local pool
    for pool in one one_ec; do
        ceph_admin osd pool create "$pool" 8 8 replicated >/dev/null 2>&1
        timeout 60 rbd -c "$D/ceph.conf" pool init "$pool"
    done
    ceph_admin auth get-or-create client.oneadmin mon 'profile rbd' \
        osd 'profile rbd pool=one, profile rbd pool=one_ec' -o "$K/client.oneadmin.keyring" 2>/dev/null
    ceph_admin auth get-key client.oneadmin > "$K/oneadmin.key"
    chmod 600 "$K"/*
    wait_for "the PGs active+clean" "$TIMEOUT" pgs_clean
}

case "$cmd" in
    start)
        # set -e stays in force inside start(); a failure at any step stops what started.
        trap 'rc=$?; [ $rc -eq 0 ] || stop; exit $rc' EXIT
        start
        ;;
    stop) stop ;;
    osd-stop) stop_daemon osd.0 ;;
    osd-start)
        start_daemon osd.0 ceph-osd -i 0
        wait_for "the OSD up" "$TIMEOUT" osd_up
        wait_for "the PGs active+clean" "$TIMEOUT" pgs_clean
        ;;
    *) echo "usage: $0 start|stop|osd-stop|osd-start DIR" >&2; exit 2 ;;
esac

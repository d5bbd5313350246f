#!/usr/bin/env bash
# The Ceph test cluster of the e2e suites on `ceph` (test_ceph*.sh source it after lib.sh):
# test/ceph/cluster.sh's single-host cluster, started for the suite and stopped at its exit,
# and what the suites read of it. Each defined here once.

# ceph_start: the cluster in $T/ceph (CL); call it from e2e_before_hosts (the test hosts,
# started after it, see its files).
ceph_start() {
    CL=$T/ceph
    local t0=$SECONDS
    if ! "$ONESTOR_SRC/test/ceph/cluster.sh" start "$CL"; then
        echo "the Ceph test cluster did not start" >&2
        exit 1
    fi
    echo "# ceph cluster started in $((SECONDS - t0)) s"
}
ceph_stop() { [ -n "${CL:-}" ] && "$ONESTOR_SRC/test/ceph/cluster.sh" stop "$CL" >/dev/null 2>&1; }

# ceph_env: after e2e_init, the names the suites use: CONF and KEY (the files the drivers
# are given), D and TM (the drivers), the datastores oned would show and the disks' auth.
ceph_env() {
    CONF=$CL/ceph.conf
    KEY=$CL/keyring/oneadmin.key
    RB=(timeout 120 rbd -c "$CONF" --id admin --keyring "$CL/keyring/client.admin.keyring")
    CA=(timeout 120 ceph -c "$CONF" --id admin --keyring "$CL/keyring/client.admin.keyring")  # (ceph as the admin)
    D=$R/datastore/ceph
    TM=$R/tm/ceph
    local id ec
    # onedatastore show -x 0: the system datastore (its volatile disks in the pool one)
    echo "<DATASTORE><ID>0</ID><NAME>system</NAME><TM_MAD>ceph</TM_MAD><BASE_PATH>$DS/0</BASE_PATH><TYPE>1</TYPE><TEMPLATE><POOL_NAME>one</POOL_NAME></TEMPLATE></DATASTORE>" > "$T/dss/0.xml"
    # onedatastore show -x 1: the image datastore (no EC pool) and 2 (EC_POOL_NAME=one_ec)
    for id in 1 2; do
        ec=""
        [ "$id" = 2 ] && ec="<EC_POOL_NAME>one_ec</EC_POOL_NAME>"
        echo "<DATASTORE><ID>$id</ID><NAME>ceph$id</NAME><DS_MAD>ceph</DS_MAD><TM_MAD>ceph</TM_MAD><BASE_PATH>$DS/$id</BASE_PATH><TYPE>0</TYPE><TEMPLATE><POOL_NAME>one</POOL_NAME>$ec</TEMPLATE></DATASTORE>" > "$T/dss/$id.xml"
    done
    export VM_DISK_EXTRA="<CEPH_USER>oneadmin</CEPH_USER><CEPH_KEY>$KEY</CEPH_KEY><CEPH_CONF>$CONF</CEPH_CONF>"
}

# RB (ceph_env): rbd as the test (admin) sees the cluster, run here on the front-end.
pool_ls() { "${RB[@]}" ls "${1:-one}" 2>/dev/null | sort | tr '\n' ' '; }
exists() { "${RB[@]}" info "$1" >/dev/null 2>&1; }
parent_of() { "${RB[@]}" info --format json "$1" | /usr/bin/python3 -c 'import json,sys; p=json.load(sys.stdin).get("parent"); print(p and "%s/%s@%s" % (p["pool"], p["image"], p["snapshot"]) or "")'; }
rsum() { "${RB[@]}" export --no-progress "$1" - 2>/dev/null | sha256sum | cut -d' ' -f1; }
rsize() { "${RB[@]}" info --format json "$1" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])'; }
snaps_of() { "${RB[@]}" snap ls --format json "$1" | /usr/bin/python3 -c 'import json,sys; print(" ".join(s["name"] for s in json.load(sys.stdin)))'; }
# write_at IMAGE OFFSET_MIB BYTE: one MiB of BYTE written into the volume in place, as a
# guest would (librbd through Debian's python3-rbd, as client.admin).
write_at() {
    /usr/bin/python3 - "$CONF" "$CL/keyring/client.admin.keyring" "$@" <<'PY'
import rados, rbd, sys
conf, keyring, spec, off, byte = sys.argv[1:]
pool, name = spec.split("/")
with rados.Rados(conffile=conf, conf={"keyring": keyring}) as c, c.open_ioctx(pool) as io, rbd.Image(io, name) as img:
    img.write(bytes([int(byte)]) * 1048576, int(off) << 20)
PY
}

# cdump KEY=VALUE...: the action document of datastore 1 (DS_MAD=ceph, BRIDGE_LIST host01)
# with the cluster's attributes; POOL / CUSER / CKEY override them.
cdump() {
    local POOL=one CUSER=oneadmin CKEY=$KEY rest=() kv
    for kv in "$@"; do
        case "$kv" in POOL=* | CUSER=* | CKEY=*) local "${kv%%=*}"="${kv#*=}" ;; *) rest+=("$kv") ;; esac
    done
    ds_dump DS_MAD=ceph TM_MAD=ceph BRIDGE_LIST=host01 SAFE_DIRS="$SAFE" RESTRICTED_DIRS=/ ${rest[@]+"${rest[@]}"} | base64 -d |
        sed "s|<BRIDGE_LIST>|<POOL_NAME>$POOL</POOL_NAME><CEPH_USER>$CUSER</CEPH_USER><CEPH_KEY>$CKEY</CEPH_KEY><CEPH_CONF>$CONF</CEPH_CONF><BRIDGE_LIST>|" |
        base64 -w0
}

# remove_all ID...: the end of a suite: the images one/one-ID removed through DS rm, then
# the pool and the EC data pool are empty.
remove_all() {
    echo "# the end: everything removed through the drivers"
    local id
    for id in "$@"; do
        expect_ok "rm one/one-$id" "$D/rm" "$(cdump SOURCE=one/one-$id IMAGE_ID=$id)" "$id"
    done
    check "the pool is empty" test -z "$(pool_ls)"
    check "so is the EC data pool (no rbd_data objects)" test -z "$(timeout 60 rados -c "$CONF" --id admin --keyring "$CL/keyring/client.admin.keyring" -p one_ec ls | grep rbd_data)"
}

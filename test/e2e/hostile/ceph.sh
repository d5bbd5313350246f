# The ceph drivers: hostile pool, image and user names and auth paths are refused before any
# host or cluster is reached (no cluster runs here: a refusal must not need one).
# Sourced by test_hostile.sh ($R, $DS, $V, $IMG, $CANARY, refuse, hostile_mark).
# ceph_dump XML KEY=VALUE...: a DS_MAD=ceph dump (bridge host01) with XML added to its TEMPLATE.
ceph_dump() {
    local xml=$1; shift
    ds_dump DS_MAD=ceph TM_MAD=ceph BRIDGE_LIST=host01 SAFE_DIRS="$CANARY/safe" "$@" | base64 -d |
        sed "s|<BRIDGE_LIST>|$xml<BRIDGE_LIST>|" | base64 -w0
}
CEPHD=$R/datastore/ceph
mkdir -p "$CANARY/safe"
head -c 1048576 /dev/zero > "$CANARY/safe/ceph.raw"
hostile_mark

for pool in 'one;touch${IFS}/tmp/PWNED' '-c' '.one' 'one/x' 'o ne' '$(id)'; do
    refuse "ceph ds cp: POOL_NAME '$pool'" "POOL_NAME" "$CEPHD/cp" \
        "$(ceph_dump "<POOL_NAME>$pool</POOL_NAME>" PATH="$CANARY/safe/ceph.raw")" 7
done
refuse "ceph ds cp: CEPH_USER starting with a dash" "CEPH_USER" "$CEPHD/cp" \
    "$(ceph_dump "<CEPH_USER>--keyring=/etc/shadow</CEPH_USER>" PATH="$CANARY/safe/ceph.raw")" 7
refuse "ceph ds cp: a relative CEPH_CONF" "CEPH_CONF" "$CEPHD/cp" \
    "$(ceph_dump "<CEPH_CONF>ceph.conf</CEPH_CONF>" PATH="$CANARY/safe/ceph.raw")" 7
refuse "ceph ds cp: CEPH_KEY with '..'" "CEPH_KEY" "$CEPHD/cp" \
    "$(ceph_dump "<CEPH_KEY>/etc/ceph/../shadow</CEPH_KEY>" PATH="$CANARY/safe/ceph.raw")" 7
refuse "ceph ds cp: EC_POOL_NAME with a space" "EC_POOL_NAME" "$CEPHD/cp" \
    "$(ceph_dump "<EC_POOL_NAME>a b</EC_POOL_NAME>" PATH="$CANARY/safe/ceph.raw")" 7
refuse "ceph ds cp: a BRIDGE_LIST host with a command" "invalid host name" "$CEPHD/cp" \
    "$(ds_dump DS_MAD=ceph BRIDGE_LIST='host01$(touch${IFS}/tmp/PWNED)' SAFE_DIRS="$CANARY/safe" PATH="$CANARY/safe/ceph.raw")" 7
refuse "ceph ds cp: a file outside SAFE_DIRS" "Not allowed to copy image from" "$CEPHD/cp" \
    "$(ceph_dump "" PATH="$CANARY/one_auth" RESTRICTED_DIRS=/)" 7
refuse "ceph ds rm: a SOURCE that is a path" "pool name" "$CEPHD/rm" "$(ceph_dump "" SOURCE="../one_auth")" 7
refuse "ceph ds rm: an image name with a ';'" "RBD image name" "$CEPHD/rm" "$(ceph_dump "" SOURCE="one/one-7;id")" 7
refuse "ceph tm clone: an image name starting with a dash" "RBD image name" \
    "$R/tm/ceph/clone" "frontend:one/--pool=x" "host01:$V/disk.0" 42 1
refuse "ceph tm mvds: an image name with '@'" "RBD image name" \
    "$R/tm/ceph/mvds" "host01:$V/disk.0" "one/one-7@snap" 42 1

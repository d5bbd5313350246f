#!/usr/bin/env bash
# Transfer benchmark (ssh driver): host01 -> host02 over real sshd test hosts, side by side
#   onestor   tm/ssh/mv of a VM directory (send | ssh | receive, sparse, checksummed)
#   tar -S    tar -cSf - | ssh host02 'tar -xSf -', run on host01 (what upstream 6.x does)
#   floor     ssh host02 'cat > f' of the allocated data alone (a dense file of that size)
# for an 8 GiB sparse image holding 512 MiB of data and a 512 MiB dense image. Prints wall
# time, throughput of real data, bytes sent and the allocated size of the result. Needs
# root and a built binary (build/onestor). Sizes can be scaled: BENCH_SPARSE_GIB, BENCH_DATA_MIB.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${E2E_IN_NS:-}" ]; then
    bash scripts/deps.sh
    cmake -S . -B build >/dev/null && cmake --build build -j"$(nproc)" --target onestor >/dev/null
fi
export ONESTOR_SRC=$PWD ONESTOR_BIN=$PWD/build/onestor
set +eu
source test/e2e/lib.sh
e2e_init "$@" ssh
set -e
SPARSE_GIB=${BENCH_SPARSE_GIB:-8}
DATA_MIB=${BENCH_DATA_MIB:-512}
cat >> "$ONESTOR_CONF" <<CFG
REMOTE_ONESTOR=$R/onestor
HOST_SSH=ssh -F $T/hosts/ssh_config
CFG
H1=$T/hosts/host01 H2=$T/hosts/host02
vm_xml 42 host01 ssh

now() { date +%s.%N; }
row() {  # row NAME SECONDS DATA_BYTES SENT_BYTES RESULT_PATH_ON_HOST02
    local alloc
    alloc=$(on host02 du -B1 "$5" | cut -f1)
    awk -v n="$1" -v s="$2" -v d="$3" -v b="$4" -v a="$alloc" 'BEGIN {
        printf "  %-10s %8.2f s %9.1f MiB/s %10.1f MiB sent %10.1f MiB allocated\n", n, s, d / s / 1048576, b / 1048576, a / 1048576 }'
}

make_image() {  # make_image DIR KIND: writes DIR/42/disk.0 on host01's datastore tree
    mkdir -p "$H1/0/42"
    local f=$H1/0/42/disk.0 i
    rm -f "$f"
    if [ "$2" = sparse ]; then
        truncate -s "${SPARSE_GIB}G" "$f"
        local chunks=$((DATA_MIB / 8)) step=$(( SPARSE_GIB * 1024 / (DATA_MIB / 8) ))
        for i in $(seq 0 $((chunks - 1))); do
            head -c 8M /dev/urandom | dd of="$f" bs=1M seek=$((i * step)) conv=notrunc status=none
        done
    else
        head -c "${DATA_MIB}M" /dev/urandom > "$f"
    fi
    sync
}

bench() {
    local kind=$1 data=$((DATA_MIB * 1048576)) t0 t1 sent
    echo "$kind image: $( [ "$kind" = sparse ] && echo "${SPARSE_GIB} GiB apparent, " )${DATA_MIB} MiB of data"
    make_image "$H1" "$kind"
    # onestor: the ssh driver's mv of the VM directory, host01 -> host02
    rm -rf "$H2/0/42"
    sent=$(on host01 "$R/onestor" send "$DS/0/42" | wc -c)
    t0=$(now)
    "$R/tm/ssh/mv" "host01:$DS/0/42" "host02:$DS/0/42" 42 0 2>"$T/err" || { cat "$T/err"; exit 1; }
    t1=$(now)
    row onestor "$(echo "$t1 - $t0" | bc)" "$data" "$sent" "$DS/0/42/disk.0"
    on host02 sha256sum "$DS/0/42/disk.0" > "$T/sum.onestor"
    # back to host01 for the next contender (untimed)
    mv "$H2/0/42" "$H1/0/42"
    # tar -S over ssh, as the stock driver does it
    rm -rf "$H2/0/42"; on host02 mkdir -p "$DS/0"
    sent=$(on host01 tar -C "$DS/0" -cSf - 42 | wc -c)
    t0=$(now)
    on host01 sh -c "tar -C $DS/0 -cSf - 42 | ssh -F $T/hosts/ssh_config host02 'tar -C $DS/0 -xSf -'"
    t1=$(now)
    row "tar -S" "$(echo "$t1 - $t0" | bc)" "$data" "$sent" "$DS/0/42/disk.0"
    on host02 sha256sum "$DS/0/42/disk.0" | cmp -s - "$T/sum.onestor" || echo "  (tar result differs!)"
    # the floor: the allocated data alone through one ssh
    head -c "$data" /dev/urandom > "$H1/floor"
    t0=$(now)
    on host01 sh -c "ssh -F $T/hosts/ssh_config host02 'cat > $DS/floor' < $DS/floor"
    t1=$(now)
    row floor "$(echo "$t1 - $t0" | bc)" "$data" "$data" "$DS/floor"
    rm -rf "$H1/floor" "$H2/floor" "$H1/0/42" "$H2/0/42"
}

echo "== ssh transfer, host01 -> host02 (wall time includes each method's ssh handshakes)"
bench sparse
bench dense

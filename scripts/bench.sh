#!/usr/bin/env bash
# Benchmarks, each side by side with the obvious alternative, on real test hosts:
#   bench.sh ssh     ssh driver: host01 -> host02 moves (onestor | tar -S over ssh | the ssh floor)
#   bench.sh qcow2   qcow2 driver: deploy by overlay vs a full cp; snapshot cost at chain depth 1/10/50
#   bench.sh         all of them
# Needs root and builds build/onestor. Sizes scale with BENCH_* variables (see each section).
set -euo pipefail
cd "$(dirname "$0")/.."
SECTION=${1:-all}
if [ -z "${E2E_IN_NS:-}" ]; then
    bash scripts/deps.sh
    cmake -S . -B build >/dev/null && cmake --build build -j"$(nproc)" --target onestor >/dev/null
    if [ "$SECTION" = all ]; then
        for s in ssh qcow2; do bash "$0" "$s"; echo; done
        exit 0
    fi
fi
export ONESTOR_SRC=$PWD ONESTOR_BIN=$PWD/build/onestor
set +eu
source test/e2e/lib.sh
case "$SECTION" in ssh) e2e_init "$@" ssh ;; qcow2) e2e_init "$@" shared ;; *) echo "unknown section $SECTION" >&2; exit 2 ;; esac
set -e
SPARSE_GIB=${BENCH_SPARSE_GIB:-8}
DATA_MIB=${BENCH_DATA_MIB:-512}
cat >> "$ONESTOR_CONF" <<CFG
REMOTE_ONESTOR=$R/onestor
HOST_SSH=ssh -F $T/hosts/ssh_config
CFG
H1=$T/hosts/host01 H2=$T/hosts/host02
vm_xml 42 host01 ssh
vm_xml 99 host01 ssh

now() { date +%s.%N; }
RUNS=${BENCH_RUNS:-5}
# Connections made to the hosts so far: their sshd's log one "Accepted" line per connection.
conns() { cat "$T/hosts/host01.log" "$T/hosts/host02.log" | grep -c '^Accepted publickey'; }
# timed NAME COMMAND...: runs it, appends "round seconds connections" to $T/runs/$KIND.NAME
timed() {
    local name=$1 c0 t0 t1; shift
    c0=$(conns); t0=$(now)
    "$@" 2>"$T/err" || { cat "$T/err"; exit 1; }
    t1=$(now)
    echo "$ROUND $(echo "$t1 - $t0" | bc) $(($(conns) - c0))" >> "$T/runs/$KIND.$name"
}
alloc_mib() { on host02 du -B1 "$1" | awk '{printf "%.1f", $1 / 1048576}'; }

make_image() {  # make_image sparse|dense: writes VM 42's disk.0 on host01's datastore tree
    mkdir -p "$H1/0/42"
    local f=$H1/0/42/disk.0 i
    rm -f "$f"
    if [ "$1" = sparse ]; then
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

# The methods. Each starts from VM 42's directory on host01 (its data in host01's page
# cache), ends with the data on host02's disk, and leaves host01 as it found it.
m_onestor() {  # the ssh driver's mv of the VM directory, every connection made afresh
    timed onestor "$R/tm/ssh/mv" "host01:$DS/0/42" "host02:$DS/0/42" 42 0
    check_copy onestor "$DS/0/42/disk.0"
    mv "$H2/0/42" "$H1/0/42"
}
m_kept() {  # the same with connections kept across actions (SSH_CONTROL_PERSIST), on the
    # front-end and on host01 (to host02): an untimed move of a small VM directory opens them
    export ONESTOR_SSH_CONTROL_PERSIST=60
    "$R/tm/ssh/mv" "host01:$DS/0/99" "host02:$DS/0/99" 99 0 2>/dev/null && mv "$H2/0/99" "$H1/0/99"
    timed "onestor*" "$R/tm/ssh/mv" "host01:$DS/0/42" "host02:$DS/0/42" 42 0
    unset ONESTOR_SSH_CONTROL_PERSIST
    mv "$H2/0/42" "$H1/0/42"
}
m_tar() {  # tar -S over ssh, as the stock driver moves a VM directory (no sync, source kept)
    mkdir -p "$H2/0"
    timed "tar -S" on host01 sh -c "tar -C $DS/0 -cSf - 42 | ssh -F $T/hosts/ssh_config host02 'tar -C $DS/0 -xSf -'"
    check_copy tar "$DS/0/42/disk.0"
    rm -rf "$H2/0/42"
}
m_floor() {  # the allocated data alone through one ssh, into page cache only
    timed floor on host01 sh -c "ssh -F $T/hosts/ssh_config host02 'cat > $DS/floor' < $DS/floor"
    rm -f "$H2/floor"
}
m_floor_sync() {  # the same made durable, as onestor makes its copy before the rename
    timed "floor+sync" on host01 sh -c "ssh -F $T/hosts/ssh_config host02 'cat > $DS/floor && sync $DS/floor' < $DS/floor"
    check_copy floor "$DS/floor"
    rm -f "$H2/floor"
}
METHODS=(m_onestor m_kept m_tar m_floor m_floor_sync)

check_copy() {  # first round: the copy has the source's bytes; its allocated size noted
    [ "$ROUND" = 1 ] || return 0
    local want=$SUM; [ "$1" = floor ] && want=$FLOOR_SUM
    [ "$(sparse_sum "$H2${2#"$DS"}")" = "$want" ] || { echo "$1: the copy differs" >&2; exit 1; }
    printf -v "ALLOC_$1" '%s' "$(alloc_mib "$2")"
}

# One image, RUNS rounds; each round runs every method once, starting with another one each
# round, so that the load of the machine (shared, noisy) falls on all of them alike.
bench() {
    KIND=$1
    local data=$((DATA_MIB * 1048576)) i n=${#METHODS[@]}
    make_image "$KIND"
    head -c "$data" /dev/urandom > "$H1/floor"
    mkdir -p "$H1/0/99" && echo warm > "$H1/0/99/f"
    SENT_onestor=$(on host01 "$R/onestor" send "$DS/0/42" | wc -c)
    SENT_tar=$(on host01 tar -C "$DS/0" -cSf - 42 | wc -c)
    SUM=$(sparse_sum "$H1/0/42/disk.0") FLOOR_SUM=$(sparse_sum "$H1/floor")
    for ROUND in $(seq 1 "$RUNS"); do
        for i in $(seq 0 $((n - 1))); do "${METHODS[$(((ROUND - 1 + i) % n))]}"; done
        # What onestor's move does beyond a copy: remove the source (on host01, untimed by
        # the others). Measured there on a copy of it, without an ssh connection.
        on host01 cp -a --sparse=always "$DS/0/42" "$DS/0/42.rm"
        on host01 sh -c "cat $DS/0/42.rm/disk.0 > /dev/null; sync; t0=\$(date +%s.%N); rm -rf $DS/0/42.rm; \
            echo \"$ROUND \$(echo \"\$(date +%s.%N) - \$t0\" | bc) 0\"" >> "$T/runs/$KIND.rm"
    done
    rm -rf "$H1/floor" "$H1/0/42" "$H1/0/99" "$H2/0/42"
    printf '  %-8s sent / allocated on host02 (MiB): onestor %.1f / %s, tar -S %.1f / %s, floor %.1f / %s;' "$KIND" \
        "$(echo "$SENT_onestor / 1048576" | bc -l)" "$ALLOC_onestor" "$(echo "$SENT_tar / 1048576" | bc -l)" "$ALLOC_tar" \
        "$(echo "$data / 1048576" | bc -l)" "$ALLOC_floor" >> "$T/runs/notes"
    printf ' removing the source: %.2f s\n' "$(median "$T/runs/$KIND.rm" 2)" >> "$T/runs/notes"
}

# median FILE [COLUMN]: the median of a column (default 2, the seconds)
median() { sort -n -k"${2:-2}" "$1" | awk -v k="${2:-2}" '{v[NR] = $k} END {print v[int((NR + 1) / 2)]}'; }
# ratio FILE [rm]: the median over rounds of (this method's time / floor+sync's in that
# round), with rm: / (floor+sync's + removing the source in that round), the floor of a move
ratio() {
    awk -v rm="${2:-}" 'FNR == 1 {n++} n == 1 {r[$1] = $2} n == 2 {f[$1] = $2}
        n == 3 && ($1 in f) {print 0, $2 / (f[$1] + (rm ? r[$1] : 0))}' \
        "$T/runs/$KIND.rm" "$T/runs/$KIND.floor+sync" "$1" > "$T/ratio"
    median "$T/ratio"
}

report() {
    local m k
    printf '  %-12s |%9s %8s %8s %8s %5s |%9s %8s %8s %8s %5s\n' "" sparse "" "" "" "" dense "" "" "" ""
    printf '  %-12s |%9s %8s %8s %8s %5s |%9s %8s %8s %8s %5s\n' method "time s" "MiB/s" "vs sync" "vs +rm" conns \
        "time s" "MiB/s" "vs sync" "vs +rm" conns
    for m in onestor "onestor*" "tar -S" floor "floor+sync"; do
        printf '  %-12s |' "$m"
        for KIND in sparse dense; do
            k=$T/runs/$KIND.$m
            awk -v t="$(median "$k")" -v r="$(ratio "$k")" -v m="$(ratio "$k" rm)" -v d="$((DATA_MIB * 1048576))" \
                -v c="$(median "$k" 3)" 'BEGIN { printf "%9.2f %8.1f %+7.0f%% %+7.0f%% %5d |", t, d / t / 1048576, (r - 1) * 100, (m - 1) * 100, c }'
        done
        echo
    done
    cat "$T/runs/notes"
    for KIND in sparse dense; do
        for m in onestor "onestor*" "tar -S" floor "floor+sync"; do
            printf '  %-8s %-12s runs: %s\n' "$KIND" "$m" "$(awk '{printf "%.2f ", $2}' "$T/runs/$KIND.$m")"
        done
    done
}

bench_qcow2() {
    local gib=${BENCH_IMAGE_GIB:-10} data=${BENCH_IMAGE_DATA_MIB:-1024} t0 t1 i
    echo "== qcow2: deploy of a ${gib} GiB raw image holding ${data} MiB of data, on host01"
    mkdir -p "$DS/1" "$DS/0/42"
    local img=$DS/1/bench.img
    truncate -s "${gib}G" "$img"
    for i in $(seq 0 $((data / 64 - 1))); do
        head -c 64M /dev/urandom | dd of="$img" bs=1M seek=$((i * gib * 1024 / (data / 64))) conv=notrunc status=none
    done
    sync
    vm_xml 42 host01 shared "0:YES:$img:$((gib * 1024)):$((gib * 1024)):raw:qcow2" "1:YES:$img:$((gib * 1024)):$((gib * 1024)):raw:qcow2"
    t0=$(now); "$R/tm/qcow2/clone" "frontend:$img" "host01:$DS/0/42/disk.0" 42 1 2>/dev/null; t1=$(now)
    printf '  %-28s %8.3f s %10s KiB written\n' "onestor qcow2 clone" "$(echo "$t1 - $t0" | bc)" "$(du -k "$DS/0/42/disk.0.snap/0" | cut -f1)"
    sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
    t0=$(now); on host01 cp "$img" "$DS/0/42/disk.1"; on host01 sync; t1=$(now)
    printf '  %-28s %8.3f s %10s KiB written\n' "cp (GNU, sparse-aware)" "$(echo "$t1 - $t0" | bc)" "$(du -k "$DS/0/42/disk.1" | cut -f1)"
    echo "== qcow2: one snap_create at chain depth 1, 10, 50 (the same ${gib} GiB disk)"
    local depth=0 want
    for want in 1 10 50; do
        while [ "$depth" -lt $((want - 1)) ]; do
            "$R/tm/qcow2/snap_create" "host01:$DS/0/42/disk.0" "$depth" 42 1 2>/dev/null; depth=$((depth + 1))
        done
        t0=$(now); "$R/tm/qcow2/snap_create" "host01:$DS/0/42/disk.0" "$depth" 42 1 2>/dev/null; t1=$(now)
        depth=$((depth + 1))
        printf '  %-28s %8.3f s %10s KiB new layer\n' "snap_create at depth $want" "$(echo "$t1 - $t0" | bc)" \
            "$(du -k "$DS/0/42/disk.0.snap/$depth" | cut -f1)"
    done
    t0=$(now); "$R/tm/qcow2/snap_create" "host01:$DS/0/42/disk.0" "$depth" 42 1 2>/dev/null; t1=$(now)
    echo "  (each action includes one ssh connection to host01: an empty action costs about $(
        t0=$(now); on host01 true; t1=$(now); echo "$t1 - $t0" | bc) s here)"
    rm -rf "$DS/0/42" "$img"
}

case "$SECTION" in
    ssh)
        echo "== ssh transfer host01 -> host02: an ${SPARSE_GIB} GiB sparse image holding ${DATA_MIB} MiB of data, and a ${DATA_MIB} MiB dense one"
        echo "   median of $RUNS runs; wall time as the front-end sees it, each method's ssh connections included"
        mkdir -p "$T/runs"
        bench sparse
        bench dense
        report
        echo "  (onestor*: SSH_CONTROL_PERSIST=60, connections kept from an earlier action; vs sync: the median over"
        echo "   the rounds of time / floor+sync's time in the same round, floor+sync being the data alone through"
        echo "   one ssh into a file then fsync'ed, as onestor makes its copy before the rename; vs +rm: the same"
        echo "   against floor+sync plus removing the source in that round, the floor of a move, which onestor's"
        echo "   times include and the others' do not; conns: ssh connections made to the hosts, from the"
        echo "   front-end and host to host; runs: in the order of the rounds)"
        ;;
    qcow2) bench_qcow2 ;;
esac

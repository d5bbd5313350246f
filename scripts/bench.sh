#!/usr/bin/env bash
# (Over 400 lines: seven benchmarks over one set of test-host, timing and table helpers.)
# Benchmarks, each side by side with the obvious alternative, on real test hosts:
#   bench.sh ssh     ssh driver: host01 -> host02 moves (onestor | tar -S over ssh | the ssh floor)
#   bench.sh qcow2   qcow2 driver: deploy by overlay vs a full cp; snapshot cost at chain depth 1/10/50
#   bench.sh stat    DS stat: onestor (the format from magic bytes, no child process) vs qemu-img info
#   bench.sh lvm     fs_lvm driver (inside user-mode-linux hosts): deploy into an LV vs qemu-img by
#                    hand; zero-on-delete vs dd
#   bench.sh download  import of a sparse raw image, gzip-compressed, over HTTPS from a local nginx:
#                    onestor fetch | curl | gunzip then cp --sparse=always | upstream's flow
#   bench.sh lifecycle  the example VM's TM calls on shared, ssh and qcow2, each beside its floor
#                    (one `ssh HOST true` per host it touches: cold, and multiplexed on a kept
#                    connection), with a light login shell and one that costs BENCH_LOGIN_S (0.25 s)
#   bench.sh ceph    ceph drivers on a real single-host cluster: deploy (TM clone) of a 10 GiB image
#                    vs upstream's clone flow (its rbd calls in one ssh) vs `rbd copy`; snapshot
#                    create/delete vs the bare rbd commands; DS cp of a 4 GiB sparse image holding
#                    512 MiB vs `rbd import` on the bridge (time, and the volume's used size)
#   bench.sh         all of them
# Needs root and builds build/onestor (BENCH_BIN: time another onestor binary instead, e.g. an older
# build). Sizes scale with BENCH_* variables (see each section).
set -euo pipefail
cd "$(dirname "$0")/.."
SECTION=${1:-all}
if [ -z "${E2E_IN_NS:-}" ]; then
    bash scripts/deps.sh
    cmake -S . -B build >/dev/null && cmake --build build -j"$(nproc)" --target onestor >/dev/null
    if [ "$SECTION" = all ]; then
        for s in ssh qcow2 stat lvm download ceph lifecycle; do bash "$0" "$s"; echo; done
        exit 0
    fi
    if [ "$SECTION" = lifecycle ]; then
        for tm in shared ssh qcow2; do bash "$0" "lifecycle-$tm"; echo; done
        exit 0
    fi
fi
export ONESTOR_SRC=$PWD ONESTOR_BIN=${BENCH_BIN:-$PWD/build/onestor}
set +eu
source test/e2e/lib.sh
case "$SECTION" in ssh | lifecycle-ssh) e2e_init "$@" ssh ;; qcow2 | lifecycle-shared | lifecycle-qcow2) e2e_init "$@" shared ;;
    stat|download) e2e_init "$@" none ;;
    ceph)
        e2e_before_hosts() { CL=$T/ceph; "$ONESTOR_SRC/test/ceph/cluster.sh" start "$CL" >/dev/null || { echo "the Ceph cluster did not start" >&2; exit 1; }; }
        e2e_init "$@" shared
        trap '"$ONESTOR_SRC/test/ceph/cluster.sh" stop "$CL" >/dev/null 2>&1; e2e_cleanup' EXIT ;;
    lvm)
        export LVMHOSTS_SAN_MB=$(( ${BENCH_LV_GIB:-4} * 3072 + 1024 ))
        e2e_init "$@" lvm ;;
    *) echo "unknown section $SECTION" >&2; exit 2 ;; esac
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
    local gib=${BENCH_IMAGE_GIB:-10} data=${BENCH_IMAGE_DATA_MIB:-1024} runs=${BENCH_RUNS:-5} i
    local V=$DS/0/42 img=$DS/1/bench.img
    echo "== qcow2 on host01: a ${gib} GiB raw image holding ${data} MiB of data; each figure the median of $runs runs"
    mkdir -p "$DS/1" "$V"
    truncate -s "${gib}G" "$img"
    for i in $(seq 0 $((data / 64 - 1))); do
        head -c 64M /dev/urandom | dd of="$img" bs=1M seek=$((i * gib * 1024 / (data / 64))) conv=notrunc status=none
    done
    sync
    vm_xml 42 host01 shared "0:YES:$img:$((gib * 1024)):$((gib * 1024)):raw:qcow2"
    # timed COMMAND...: adds its wall time to $T/times; a failure stops the benchmark, loudly
    timed() {
        local t0 t1
        t0=$(now); "$@" >/dev/null 2>"$T/err" || { echo "FAILED: $*" >&2; cat "$T/err" >&2; exit 1; }; t1=$(now)
        echo "$t1 - $t0" | bc >> "$T/times"
    }
    # median FUNCTION: runs it (in this shell: it may move counters on), prints the median time
    median() {
        : > "$T/times"; "$1"
        sort -n "$T/times" | awk '{ v[NR] = $1 } END { printf "%.3f", v[int((NR + 1) / 2)] }'
    }
    # both FUNCTION: sets BOTH to the medians with a new ssh connection per action (the
    # default) and with one kept across actions (SSH_CONTROL_PERSIST=60, warmed up first)
    both() {
        local fresh kept
        median "$1" > "$T/m"; fresh=$(cat "$T/m")
        export ONESTOR_SSH_CONTROL_PERSIST=60
        "$R/tm/qcow2/delete" "host01:$DS/0/99" 99 0 2>/dev/null
        median "$1" > "$T/m"; kept=$(cat "$T/m")
        unset ONESTOR_SSH_CONTROL_PERSIST
        BOTH="$fresh $kept"
    }
    row() { printf '  %-34s %8s s %8s s %12s KiB %9s\n' "$1" "$2" "$3" "$4" "$5"; }
    printf '  %-34s %10s %10s %16s %9s\n' "" "new conn." "kept conn." "written" "ssh cmds"
    # cmds COMMAND...: runs it once (untimed) and prints how many commands it sent over ssh
    # (round trips, besides opening and closing the connection): what the load cannot blur
    cmds() { ONESTOR_DEBUG=yes "$@" 2>&1 >/dev/null | grep -c ': run: ssh .* -- '; }
    clones() {
        for i in $(seq "$runs"); do
            "$R/tm/qcow2/delete" "host01:$V" 42 0 2>/dev/null
            timed "$R/tm/qcow2/clone" "frontend:$img" "host01:$V/disk.0" 42 1
        done
    }
    both clones
    "$R/tm/qcow2/delete" "host01:$V" 42 0 2>/dev/null
    local n; n=$(cmds "$R/tm/qcow2/clone" "frontend:$img" "host01:$V/disk.0" 42 1)
    row "onestor qcow2 clone (deploy)" $BOTH "$(du -k "$V/disk.0.snap/0" | cut -f1)" "$n"
    # host_copies FILE COMMAND: COMMAND (a shell line on host01 that writes FILE) $runs times, timed
    host_copies() { for i in $(seq "$runs"); do rm -f "$1"; sync; timed on host01 sh -c "$2"; done; }
    cps() { host_copies "$V/copy" "cp '$img' '$V/copy' && sync '$V/copy'"; }
    median cps > "$T/m"
    row "cp (GNU, sparse-aware) + sync" "$(cat "$T/m")" "-" "$(du -k "$V/copy" | cut -f1)" 1
    rm -f "$V/copy"
    "$R/tm/qcow2/delete" "host01:$V" 42 0 2>/dev/null
    "$R/tm/qcow2/clone" "frontend:$img" "host01:$V/disk.0" 42 1 2>/dev/null
    local depth=0 want
    snaps() {  # the next $runs snapshots, timed
        for i in $(seq "$runs"); do timed "$R/tm/qcow2/snap_create" "host01:$V/disk.0" "$depth" 42 1; depth=$((depth + 1)); done
    }
    for want in 1 10 50; do
        while [ "$depth" -lt $((want - 1)) ]; do
            "$R/tm/qcow2/snap_create" "host01:$V/disk.0" "$depth" 42 1 2>"$T/err" || { cat "$T/err" >&2; exit 1; }
            depth=$((depth + 1))
        done
        # (both runs snaps twice: the chain grows by 2 x runs layers meanwhile)
        local start=$((depth + 1))
        both snaps
        n=$(cmds "$R/tm/qcow2/snap_create" "host01:$V/disk.0" "$depth" 42 1)
        depth=$((depth + 1))
        row "snap_create, chain depth $start-$depth" $BOTH "$(du -k "$V/disk.0.snap/$depth" | cut -f1)" "$n"
        check_depth=$(qemu-img info -U --backing-chain --output=json "$V/disk.0" | grep -c '"filename"')
        [ "$check_depth" -eq $((depth + 2)) ] || { echo "the chain is $check_depth files, not $((depth + 2))"; exit 1; }
    done
    fulls() { host_copies "$V/full" "qemu-img convert -U -f qcow2 -O qcow2 '$V/disk.0' '$V/full' && sync '$V/full'"; }
    median fulls > "$T/m"
    row "a full copy of the disk + sync" "$(cat "$T/m")" "-" "$(du -k "$V/full" | cut -f1)" 1
    rts() { for i in $(seq "$runs"); do timed on host01 true; done; }
    median rts > "$T/m"; local fresh_rt; fresh_rt=$(cat "$T/m")
    ssh_mux
    on host01 true
    median rts > "$T/m"
    echo "  (one ssh command to host01: $fresh_rt s on a new connection, $(cat "$T/m") s on a kept one;"
    echo "   kept conn.: SSH_CONTROL_PERSIST=60, the connection of an earlier action reused; the image is"
    echo "   in the page cache for cp and the full copy: their best case)"
    rm -rf "$V" "$img"
}

bench_lvm() {
    local gib=${BENCH_LV_GIB:-4} data=${BENCH_LV_DATA_MIB:-256} i r dev=/dev/vg-one-0
    # An operator's command line: its own ssh connection (a handshake, as each action has).
    by_hand() { "${SSHH[@]}" -o ControlMaster=no -o ControlPath=none host01 -- "$1"; }
    # Each contender starts with cold caches in the UML kernel (the image is read through hostfs).
    timed() { local a b; on host01 sh -c 'sync; echo 3 > /proc/sys/vm/drop_caches'; a=$(now); "$@" >/dev/null 2>"$T/err" || { cat "$T/err"; exit 1; }; b=$(now); echo "$b - $a" | bc; }
    declare -A secs
    mkdir -p "$DS/1" "$DS/0"
    local img=$DS/1/bench.img
    truncate -s "${gib}G" "$img"
    for i in $(seq 0 $((data / 16 - 1))); do
        head -c 16M /dev/urandom | dd of="$img" bs=1M seek=$((i * gib * 1024 / (data / 16))) conv=notrunc status=none
    done
    sync
    local sum_img; sum_img=$(sha256sum "$img" | cut -d' ' -f1)
    # Three rounds; who goes first alternates, so each contender meets both LV placements
    # (LVM takes the lowest free extents) in the SAN file, whose regions cost differently on
    # this machine's disk depending on what was last written there. Rows: each round, median.
    ours() {
        vm_xml 42 host01 fs_lvm "0:YES:$img:$((gib * 1024)):$((gib * 1024)):raw:fs_lvm"
        secs[clone$r]=$(timed "$R/tm/fs_lvm/clone" "frontend:$img" "host01:$DS/0/42/disk.0" 42 0)
        [ "$(on host01 sha256sum "$dev/lv-one-42-0" | cut -d' ' -f1)" = "$sum_img" ] || echo "  (the LV differs from the image!)"
    }
    hand() { secs[hand$r]=$(timed by_hand "lvcreate -q -y -L ${gib}g -n hand vg-one-0 && qemu-img convert -O raw $img $dev/hand && sync"); }
    for r in 1 2 3; do
        if [ $((r % 2)) = 1 ]; then ours; hand; else hand; ours; fi
        secs[del$r]=$(timed "$R/tm/fs_lvm/delete" "host01:$DS/0/42" 42 0)
        secs[dd$r]=$(timed by_hand "dd if=/dev/zero of=$dev/hand bs=64k conv=fsync status=none; lvremove -q -f vg-one-0/hand")
    done
    VM_DISK_EXTRA='<LVM_THIN_ENABLE>YES</LVM_THIN_ENABLE>' vm_xml 43 host01 fs_lvm "0:YES:$img:$((gib * 1024)):$((gib * 1024)):raw:fs_lvm"
    secs[thin]=$(timed "$R/tm/fs_lvm/clone" "frontend:$img" "host01:$DS/0/43/disk.0" 43 0)
    secs[thindel]=$(timed "$R/tm/fs_lvm/delete" "host01:$DS/0/43" 43 0)
    row3() {  # row3 NAME KEY: the three rounds and their median
        printf '  %-48s %7.2f %7.2f %7.2f   %7.2f s\n' "$1" "${secs[${2}1]}" "${secs[${2}2]}" "${secs[${2}3]}" \
            "$(printf '%s\n' "${secs[${2}1]}" "${secs[${2}2]}" "${secs[${2}3]}" | sort -g | sed -n 2p)"
    }
    row1() { printf '  %-48s %31.2f s\n' "$1" "$2"; }
    echo "== fs_lvm: deploy of a ${gib} GiB raw image holding ${data} MiB into a new LV on host01 (a UML kernel)"
    printf '  %-48s %7s %7s %7s   %7s\n' "seconds" "round 1" "round 2" "round 3" "median"
    row3 "onestor fs_lvm clone (linear LV)" clone
    row3 "lvcreate + qemu-img convert -O raw, by hand" hand
    row1 "onestor fs_lvm clone (thin LV, holes skipped)" "${secs[thin]}"
    echo "== fs_lvm: removal of a ${gib} GiB LV with ZERO_LVM_ON_DELETE"
    row3 "onestor fs_lvm delete (BLKZEROOUT, linear)" del
    row3 "dd if=/dev/zero bs=64k conv=fsync + lvremove" dd
    row1 "onestor fs_lvm delete (thin: no zeroing)" "${secs[thindel]}"
    echo "  (every row includes one ssh handshake to host01: about $(timed by_hand true) s here)"
    rm -f "$img"
}

# DS stat of a 1 GiB raw file and a 1 GiB qcow2, timed as oned runs it (the whole action:
# process start, base64 + XML decoding, the path policy), against `qemu-img info` alone on
# the same file (what stat ran before, with its probe): wall time, and CPU time (user + sys,
# the process and its children), which a loaded machine disturbs less. Medians of
# BENCH_STAT_RUNS runs.
bench_stat() {
    local d=$T/stat n=${BENCH_STAT_RUNS:-15} f k dump TIMEFORMAT='%3R %3U %3S'
    mkdir -p "$d"
    truncate -s 1G "$d/raw"
    qemu-img create -q -f qcow2 "$d/qcow2" 1G
    echo "== DS stat vs qemu-img info on the same file: medians of $n runs, ms (load average: $(cut -d' ' -f1 /proc/loadavg))"
    printf '  %-8s | %12s %12s | %14s %12s\n' file "onestor stat" "(CPU)" "qemu-img info" "(CPU)"
    for f in raw qcow2; do
        dump=$(ds_dump PATH="$d/$f" SAFE_DIRS="$d" RESTRICTED_DIRS=/)
        : >"$T/stat.os"
        : >"$T/stat.qi"
        for k in $(seq "$n"); do
            { time "$R/datastore/fs/stat" "$dump" 0 >/dev/null; } 2>>"$T/stat.os"
            { time qemu-img info --output=json "$d/$f" >/dev/null; } 2>>"$T/stat.qi"
        done
        ms() { awk -v c="${2:-}" '{print 0, (c ? $2 + $3 : $1) * 1000}' "$1" >"$T/ms"; median "$T/ms"; }
        printf '  %-8s | %12.1f %12.1f | %14.1f %12.1f\n' "$f" "$(ms "$T/stat.os")" "$(ms "$T/stat.os" 1)" \
            "$(ms "$T/stat.qi")" "$(ms "$T/stat.qi" 1)"
    done
    echo "  (onestor stat prints $("$R/datastore/fs/stat" "$dump" 0) MiB for the qcow2: its virtual size, read from its header)"
}

bench_download() {
    local gib=${BENCH_DL_GIB:-4} data=${BENCH_DL_DATA_MIB:-512} port=${BENCH_HTTPS_PORT:-8457} i r m
    local www=$T/www d=$T/dl
    BENCH_HW=$T/httpsd  # global: the EXIT trap runs after this function returned
    mkdir -p "$www" "$d"
    truncate -s "${gib}G" "$T/img"
    for i in $(seq 0 $((data / 8 - 1))); do
        head -c 8M /dev/urandom | dd of="$T/img" bs=1M seek=$((i * gib * 1024 / (data / 8))) conv=notrunc status=none
    done
    gzip -c "$T/img" > "$www/img.gz"
    local want; want=$(sparse_sum "$T/img")
    rm -f "$T/img"
    "$ONESTOR_SRC/test/e2e/httpsd.sh" start "$www" "$BENCH_HW" "$port" >/dev/null
    trap '"$ONESTOR_SRC/test/e2e/httpsd.sh" stop "$BENCH_HW" >/dev/null 2>&1; e2e_cleanup' EXIT
    local url=https://127.0.0.1:$port/img.gz ca=$BENCH_HW/ca.pem
    export ONESTOR_DOWNLOAD_CA_FILE=$ca
    # Each contender ends with the image durable under its final name (onestor fsyncs before
    # its rename; the others get a sync of their result).
    declare -A cmd=(
        [onestor]="$ONESTOR_BIN fetch $url $d/onestor.img >/dev/null 2>$d/progress"
        [pipe]="curl -sS --cacert $ca $url | gunzip > $d/p.tmp && cp --sparse=always $d/p.tmp $d/pipe.img && rm $d/p.tmp && sync $d/pipe.img"
        [upstream]="curl -sS --cacert $ca $url -o $d/u.gz && gunzip -c $d/u.gz > $d/u.tmp && cp $d/u.tmp $d/upstream.img && rm $d/u.gz $d/u.tmp && sync $d/upstream.img"
    )
    local order=(onestor pipe upstream)
    for r in 1 2 3; do
        for i in 0 1 2; do
            m=${order[$(((r - 1 + i) % 3))]}
            rm -f "$d/$m.img"; sync
            /usr/bin/time -f '%e %M' -o "$T/tv" bash -c "${cmd[$m]}" || { echo "$m failed" >&2; exit 1; }
            echo "$r $(cat "$T/tv") $(du -k "$d/$m.img" | cut -f1)" >> "$T/dl.$m"
            if [ "$r" = 1 ] && [ "$(sparse_sum "$d/$m.img")" != "$want" ]; then echo "$m: the result differs" >&2; exit 1; fi
            rm -f "$d/$m.img"
        done
    done
    echo "== download: a ${gib} GiB sparse raw image holding ${data} MiB of random data, gzip-compressed"
    echo "   ($(du -m "$www/img.gz" | cut -f1) MiB), over HTTPS from nginx on loopback; median of 3 rounds"
    printf '  %-58s %8s %10s %12s\n' method "wall s" "peak RSS" "allocated"
    local name
    for m in onestor pipe upstream; do
        case $m in
            onestor) name="onestor fetch (one stream, sparse, fsync)" ;;
            pipe) name="curl | gunzip > f; cp --sparse=always; sync" ;;
            upstream) name="upstream: curl -o tmp; gunzip > tmp2; cp; sync" ;;
        esac
        printf '  %-58s %8.2f %7.1f MiB %8.1f MiB\n' "$name" "$(median "$T/dl.$m" 2)" \
            "$(echo "$(median "$T/dl.$m" 3) / 1024" | bc -l)" "$(echo "$(median "$T/dl.$m" 4) / 1024" | bc -l)"
    done
    echo "  (peak RSS: the largest process of the contender, from GNU time; allocated: du of the result)"
}

# ---- lifecycle: each TM call of the example VM beside its floor -------------------------------
# lc_call NAME PROGRAM ARGS...: runs one driver call with DEBUG lines; appends to $T/lc.NAME
# "seconds handshakes remote-commands floor-seconds" where the floor is one `ssh HOST true`
# per host the call names (cold: a new connection each; warm: over a kept one).
lc_call() {
    local name=$1 prog=$2 t0 t1 c0 f0 f1 hosts h; shift 2
    hosts=$(printf '%s\n' "$@" | sed -n 's/^\(host0[12]\):.*/\1/p; s/^\(host0[12]\)$/\1/p' | sort -u)
    f0=$(now)
    for h in $hosts; do
        if [ "$LC_MODE" = warm ]; then ssh -F "$T/hosts/ssh_config" -o ControlMaster=auto -o "ControlPath=$T/floor-%h" \
            -o ControlPersist=600 "$h" true; else ssh -F "$T/hosts/ssh_config" -o ControlPath=none "$h" true; fi
    done
    f1=$(now)
    c0=$(conns); t0=$(now)
    ONESTOR_DEBUG=yes "$prog" "$@" >/dev/null 2>"$T/err" || { echo "bench: failed: ${prog#"$R"/} $*"; grep -v DEBUG "$T/err"; exit 1; }
    t1=$(now)
    echo "$(echo "$t1 - $t0" | bc) $(($(conns) - c0)) $(grep -c 'run: ssh .*ControlMaster=no' "$T/err") $(echo "$f1 - $f0" | bc)" \
        "$(echo $hosts | tr ' ' ,)" >> "$T/lc.$LC_MODE.$name"
    LC_ORDER+=("$name")
}
lc_vm() {  # lc_vm ID: the example VM's calls (as scripts/demo.sh makes them)
    local vid=$1 V=$DS/0/$1 tm=$LC_TM
    vm_xml "$vid" host01 "$tm" "0:YES:$LC_IMG0:512:512:raw:$tm" "1:NO:$LC_IMG1:64:64:raw:$tm"
    lc_call clone "$R/tm/$tm/clone" "frontend:$LC_IMG0" "host01:$V/disk.0" "$vid" 1
    lc_call ln "$R/tm/$tm/ln" "frontend:$LC_IMG1" "host01:$V/disk.1" "$vid" 1
    lc_call context "$R/tm/$tm/context" "$LC_CTX" "host01:$V/disk.2" "$vid" 0
    lc_call mkswap "$R/tm/$tm/mkswap" 32 "host01:$V/disk.3" "$vid" 0
    lc_call snap_create "$R/tm/$tm/snap_create" "host01:$V/disk.0" 0 "$vid" 1
    lc_call snap_revert "$R/tm/$tm/snap_revert" "host01:$V/disk.0" 0 "$vid" 1
    lc_call snap_delete "$R/tm/$tm/snap_delete" "host01:$V/disk.0" 0 "$vid" 1
    set_lcm "$vid" 10
    lc_call "stop: mv disk.0" "$R/tm/$tm/mv" "host01:$V/disk.0" "frontend:$V/disk.0" "$vid" 1
    lc_call "stop: mv dir" "$R/tm/$tm/mv" "host01:$V" "frontend:$V" "$vid" 0
    set_lcm "$vid" 9
    lc_call "resume: mv disk.0" "$R/tm/$tm/mv" "frontend:$V/disk.0" "host01:$V/disk.0" "$vid" 1
    lc_call "resume: mv dir" "$R/tm/$tm/mv" "frontend:$V" "host01:$V" "$vid" 0
    set_lcm "$vid" 8
    lc_call "migrate: mv disk.0" "$R/tm/$tm/mv" "host01:$V/disk.0" "host02:$V/disk.0" "$vid" 1
    lc_call "migrate: mv dir" "$R/tm/$tm/mv" "host01:$V" "host02:$V" "$vid" 0
    set_lcm "$vid" 11
    lc_call delete "$R/tm/$tm/delete" "host02:$V/disk.0" "$vid" 1
    lc_call mvds "$R/tm/$tm/mvds" "host02:$V/disk.1" "$LC_IMG1" "$vid" 1
    lc_call "delete dir" "$R/tm/$tm/delete" "host02:$V" "$vid" 0
}
bench_lifecycle() {
    LC_TM=${SECTION#lifecycle-}
    local src login mode k=0 name
    src=$(mktemp -d /var/tmp/onestor-bench.XXXXXX)
    make_sparse "$src/os.img" 512
    make_sparse "$src/data.img" 64
    LC_IMG0=$("$R/datastore/fs/cp" "$(ds_dump PATH="$src/os.img" SAFE_DIRS=/var/tmp RESTRICTED_DIRS=/)" 0 2>/dev/null)
    LC_IMG1=$("$R/datastore/fs/cp" "$(ds_dump IMAGE_ID=1 PATH="$src/data.img" SAFE_DIRS=/var/tmp RESTRICTED_DIRS=/)" 1 2>/dev/null)
    LC_CTX=$src/context.sh
    echo "ONEGATE_ENDPOINT=http://frontend:5030" > "$LC_CTX"
    for login in 0 "${BENCH_LOGIN_S:-0.25}"; do
        # the hosts' shells source root's ~/.bashrc: this namespace's copy costs $login s per command
        if [ "$login" = 0 ]; then : > "$T/bashrc"; else echo "sleep $login" > "$T/bashrc"; fi
        echo "== lifecycle, TM $LC_TM: the example VM's TM calls, login shell +${login} s per remote command; median of $RUNS VMs"
        printf '  %-20s %-13s | %-31s | %-31s\n' "" "" "cold (one connection per action)" "warm (SSH_CONTROL_PERSIST=70)"
        printf '  %-20s %-13s | %7s %7s %5s %3s %4s | %7s %7s %5s %3s %4s\n' action hosts onestor floor x hs cmds onestor floor x hs cmds
        for mode in cold warm; do
            LC_MODE=$mode
            if [ "$mode" = warm ]; then export ONESTOR_SSH_CONTROL_PERSIST=70; else export ONESTOR_SSH_CONTROL_PERSIST=0; fi
            [ "$mode" = warm ] && lc_vm 900 && rm -f "$T"/lc.warm.*  # warms the connections up
            for r in $(seq 1 "$RUNS"); do k=$((k + 1)); LC_ORDER=(); lc_vm $((100 + k)); done
        done
        unset ONESTOR_SSH_CONTROL_PERSIST
        for name in "${LC_ORDER[@]}"; do
            printf '  %-20s %-13s' "$name" "$(awk 'NR == 1 {print $5}' "$T/lc.cold.$name")"
            for mode in cold warm; do
                local f="$T/lc.$mode.$name" o fl
                o=$(median "$f" 1); fl=$(median "$f" 4)
                printf ' | %7.3f %7.3f %5.2f %3s %4s' "$o" "$fl" "$(echo "$o / $fl" | bc -l)" "$(median "$f" 2)" "$(median "$f" 3)"
            done
            echo
        done
        rm -f "$T"/lc.*
    done
    echo "  (onestor: the driver call's wall time; floor: one ssh HOST true per host the call names, a new"
    echo "   connection each (cold) or over one kept before (warm); x: onestor / floor; hs: ssh handshakes"
    echo "   the call made (sshd logs); cmds: remote commands it sent (DEBUG lines); hosts: which it touches)"
    rm -rf "$src"
}

# ---- ceph: deploy, snapshots and import on a real cluster ------------------------------------
# Each method one ssh command (or onestor's own connection) from the front-end to host01, the
# hypervisor and bridge, where rbd runs as client.oneadmin; medians of BENCH_RUNS rounds, the
# methods in another order each round. The 10 GiB image holds 64 MiB: a clone does not read it.
bench_ceph() {
    local conf=$CL/ceph.conf key=$CL/keyring/oneadmin.key gib=${BENCH_CEPH_GIB:-10} k m
    local rb=(rbd -c "$conf" --id admin --keyring "$CL/keyring/client.admin.keyring")
    local hrbd="rbd --id oneadmin --keyfile $key -c $conf"
    export VM_DISK_EXTRA="<CEPH_USER>oneadmin</CEPH_USER><CEPH_KEY>$key</CEPH_KEY><CEPH_CONF>$conf</CEPH_CONF>"
    echo "<DATASTORE><ID>1</ID><NAME>ceph</NAME><DS_MAD>ceph</DS_MAD><TM_MAD>ceph</TM_MAD><BASE_PATH>$DS/1</BASE_PATH><TYPE>0</TYPE><TEMPLATE><POOL_NAME>one</POOL_NAME></TEMPLATE></DATASTORE>" >"$T/dss/1.xml"
    mkdir -p "$DS/0" "$DS/1" "$T/runs"
    "${rb[@]}" create --size "${gib}G" one/one-7
    /usr/bin/python3 -c 'import rados, rbd, sys
with rados.Rados(conffile=sys.argv[1], conf={"keyring": sys.argv[2]}) as c, c.open_ioctx("one") as io, rbd.Image(io, "one-7") as img:
    [img.write(b"\x5a" * 1048576, o << 20) for o in range(64)]' "$conf" "$CL/keyring/client.admin.keyring"
    vm_xml 42 host01 ceph "0:YES:one/one-7:$((gib * 1024)):$((gib * 1024)):raw:ceph"
    # The same rbd calls upstream's tm/ceph/clone makes (info of the clone, the @snap made and
    # protected when missing, the image's format, the clone), in one ssh, after the ssh of its
    # disable_local_monitoring; written here from its behaviour.
    local upstream="R='$hrbd'; \$R info one/one-7-42-0 >/dev/null 2>&1 && exit 0
\$R info one/one-7@snap >/dev/null 2>&1 || { \$R snap create one/one-7@snap && \$R snap protect one/one-7@snap; } || exit 1
\$R info --format json one/one-7 >/dev/null && \$R clone one/one-7@snap one/one-7-42-0"
    echo "== ceph: deploy of a $gib GiB image (TM clone), snapshots, import; medians of $RUNS rounds, seconds"
    # Another VM's clone of the image stays through the rounds, so the image's @snap is there,
    # as for every deploy but an image's first (the last clone's delete takes the @snap along).
    vm_xml 41 host01 ceph "0:YES:one/one-7:$((gib * 1024)):$((gib * 1024)):raw:ceph"
    "$R/tm/ceph/clone" "frontend:one/one-7" "host01:$DS/0/41/disk.0" 41 1 2>/dev/null
    for k in $(seq "$RUNS"); do
        for m in $(printf 'onestor\nupstream\ncopy\nfloor\n' | awk -v k="$k" '{a[NR]=$0} END {for (i = 0; i < NR; i++) print a[(i + k) % NR + 1]}'); do
            case $m in
                onestor) timed_ceph clone.onestor "$R/tm/ceph/clone" "frontend:one/one-7" "host01:$DS/0/42/disk.0" 42 1
                    check_clone && "$R/tm/ceph/delete" "host01:$DS/0/42/disk.0" 42 1 2>/dev/null ;;
                upstream) timed_ceph clone.upstream sh -c '"$@" true && "$@" "$0"' "$upstream" "${SSHH[@]}" host01
                    check_clone && "${rb[@]}" rm --no-progress one/one-7-42-0 2>/dev/null ;;
                copy) timed_ceph clone.copy "${SSHH[@]}" host01 "$hrbd copy --no-progress one/one-7 one/one-7-copy"
                    "${rb[@]}" rm --no-progress one/one-7-copy 2>/dev/null ;;
                floor) timed_ceph clone.floor "${SSHH[@]}" host01 true ;;
            esac
        done
    done
    "$R/tm/ceph/delete" "host01:$DS/0/41/disk.0" 41 1 2>/dev/null
    "$R/tm/ceph/clone" "frontend:one/one-7" "host01:$DS/0/42/disk.0" 42 1 2>/dev/null
    for k in $(seq "$RUNS"); do
        timed_ceph snap_create.onestor "$R/tm/ceph/snap_create" "host01:$DS/0/42/disk.0" 1 42 1
        timed_ceph snap_delete.onestor "$R/tm/ceph/snap_delete" "host01:$DS/0/42/disk.0" 1 42 1
        timed_ceph snap_create.rbd "${SSHH[@]}" host01 "$hrbd snap create one/one-7-42-0@b"
        timed_ceph snap_delete.rbd "${SSHH[@]}" host01 "$hrbd snap rm --no-progress one/one-7-42-0@b"
    done
    "$R/tm/ceph/delete" "host01:$DS/0/42/disk.0" 42 1 2>/dev/null
    # DS cp: a sparse image of BENCH_CEPH_CP_GIB GiB holding BENCH_DATA_MIB MiB, from the front-end.
    local src=/var/tmp/onestor-bench-ceph.img cpg=${BENCH_CEPH_CP_GIB:-4}
    truncate -s "${cpg}G" "$src"
    for k in $(seq $((DATA_MIB / 64))); do head -c 64M /dev/urandom | dd of="$src" bs=1M seek=$(((k - 1) * cpg * 1024 * 64 / DATA_MIB)) conv=notrunc status=none; done
    local dump; dump=$(ds_dump DS_MAD=ceph TM_MAD=ceph BRIDGE_LIST=host01 PATH="$src" SAFE_DIRS=/var/tmp RESTRICTED_DIRS=/ | base64 -d |
        sed "s|<BRIDGE_LIST>|<POOL_NAME>one</POOL_NAME><CEPH_USER>oneadmin</CEPH_USER><CEPH_KEY>$key</CEPH_KEY><CEPH_CONF>$conf</CEPH_CONF><BRIDGE_LIST>|" | base64 -w0)
    for k in $(seq "${BENCH_CEPH_CP_RUNS:-3}"); do
        timed_ceph cp.onestor "$R/datastore/ceph/cp" "$dump" 30
        used_of one/one-30 >"$T/runs/ceph.cp.onestor.used"
        "${rb[@]}" rm --no-progress one/one-30 2>/dev/null
        timed_ceph cp.rbd "${SSHH[@]}" host01 "$hrbd import --no-progress $src one/imp"
        used_of one/imp >"$T/runs/ceph.cp.rbd.used"
        "${rb[@]}" rm --no-progress one/imp 2>/dev/null
        timed_ceph cp.pipe sh -c '"$@" <"$0"' "$src" "${SSHH[@]}" host01 "$hrbd import --no-progress - one/imp"
        "${rb[@]}" rm --no-progress one/imp 2>/dev/null
        # upstream's ds/ceph/cp: the file through ssh into dd in the bridge's staging dir, then,
        # in a second ssh, qemu-img info of it, rbd import, rm
        timed_ceph cp.upstream sh -c '"$@" "dd of=/var/tmp/onestor-bench-staged bs=64k status=none" <"$0" &&
            "$@" "qemu-img info /var/tmp/onestor-bench-staged >/dev/null && '"$hrbd"' import --no-progress /var/tmp/onestor-bench-staged one/imp && rm -f /var/tmp/onestor-bench-staged"' \
            "$src" "${SSHH[@]}" host01
        "${rb[@]}" rm --no-progress one/imp 2>/dev/null
    done
    rm -f "$src"
    printf '  %-28s %10s %10s %10s %10s\n' "" onestor upstream "rbd copy" "ssh floor"
    printf '  %-28s %10.3f %10.3f %10.3f %10.3f\n' "TM clone ($gib GiB image)" "$(median "$T/runs/ceph.clone.onestor")" \
        "$(median "$T/runs/ceph.clone.upstream")" "$(median "$T/runs/ceph.clone.copy")" "$(median "$T/runs/ceph.clone.floor")"
    printf '  %-28s %10s %10s\n' "" onestor "rbd alone"
    for m in snap_create snap_delete; do
        printf '  %-28s %10.3f %10.3f\n' "$m" "$(median "$T/runs/ceph.$m.onestor")" "$(median "$T/runs/ceph.$m.rbd")"
    done
    printf '  %-28s %10s %10s %10s %10s\n' "" onestor upstream "rbd import" "| import -"
    printf '  %-28s %10.3f %10.3f %10.3f %10.3f   used: %s MiB vs %s MiB of %s MiB data\n' "DS cp ($cpg GiB, $DATA_MIB MiB data)" \
        "$(median "$T/runs/ceph.cp.onestor")" "$(median "$T/runs/ceph.cp.upstream")" "$(median "$T/runs/ceph.cp.rbd")" "$(median "$T/runs/ceph.cp.pipe")" \
        "$(cat "$T/runs/ceph.cp.onestor.used")" "$(cat "$T/runs/ceph.cp.rbd.used")" "$DATA_MIB"
    echo "  (onestor: the driver call as oned makes it, one ssh connection; upstream: its clone's rbd calls in one ssh"
    echo "   after one more ssh; rbd copy: a full copy; ssh floor: one ssh host01 true; rbd alone: the bare command"
    echo "   in one ssh; DS cp: onestor sends the file's data alone (an rbd diff stream) to rbd import-diff on the"
    echo "   bridge; upstream: its cp's flow (the file through ssh into dd on the bridge, then qemu-img info, rbd import"
    echo "   and rm in a second ssh); rbd import: the bridge reads the file itself (already there: the floor); | import -:"
    echo "   the front-end's file through ssh into rbd import -, holes and all)"
}
timed_ceph() {  # timed_ceph NAME COMMAND...: appends "round seconds" to $T/runs/ceph.NAME
    local name=$1 t0; shift
    t0=$(now)
    "$@" >/dev/null 2>"$T/timed.err" || { echo "$name failed:"; cat "$T/timed.err"; return 1; }
    echo "0 $(echo "$(now) - $t0" | bc)" >>"$T/runs/ceph.$name"
}
check_clone() {  # the clone exists and is an RBD clone of the image's @snap
    rbd -c "$CL/ceph.conf" --id admin --keyring "$CL/keyring/client.admin.keyring" info --format json one/one-7-42-0 |
        /usr/bin/python3 -c 'import json, sys; p = json.load(sys.stdin)["parent"]; sys.exit(0 if (p["image"], p["snapshot"]) == ("one-7", "snap") else 1)'
}
used_of() {  # used_of SPEC: the volume's used MiB (rbd du)
    rbd -c "$CL/ceph.conf" --id admin --keyring "$CL/keyring/client.admin.keyring" du --format json "$1" |
        /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["images"][0]["used_size"] >> 20)'
}

case "$SECTION" in
    ceph) bench_ceph ;;
    lifecycle-*) bench_lifecycle ;;
    stat) bench_stat ;;
    download) bench_download ;;
    lvm) bench_lvm ;;
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

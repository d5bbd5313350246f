#!/usr/bin/env bash
# run.sh FUZZER TARGET WORKDIR: a bounded libFuzzer run of one target, for ctest.
# Seeds: test/fuzz/corpus/TARGET/ (crashes found earlier are kept there as regression inputs,
# and every run replays them first). New inputs and crash artifacts go under WORKDIR/TARGET.
# Prints "fuzz TARGET: N executions, C crashes" and fails when C > 0.
#   ONESTOR_FUZZ_SECONDS  how long (default 30)    ONESTOR_FUZZ_ARGS  more libFuzzer flags
set -uo pipefail
fuzzer=$1 target=$2 work=$3/$2
here=$(cd "$(dirname "$0")" && pwd)
seconds=${ONESTOR_FUZZ_SECONDS:-30}
rm -rf "$work/artifacts"
mkdir -p "$work/new" "$work/artifacts"
flags=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
       -artifact_prefix="$work/artifacts/")
[ -f "$here/$target.dict" ] && flags+=(-dict="$here/$target.dict")
# shellcheck disable=SC2086
"$fuzzer" "${flags[@]}" ${ONESTOR_FUZZ_ARGS:-} "$work/new" "$here/corpus/$target" >"$work/log" 2>&1
rc=$?
# "stat::number_of_executed_units: N" (final stats), else the last "#N" status line.
execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$work/log" | tail -1)
[ -n "$execs" ] || execs=$(grep -oE '^#[0-9]+' "$work/log" | tail -1 | tr -d '#')
crashes=$(find "$work/artifacts" -type f | wc -l)
echo "fuzz $target: ${execs:-0} executions, $crashes crashes (${seconds}s, exit $rc)"
if [ "$crashes" -gt 0 ] || [ "$rc" -ne 0 ]; then
    find "$work/artifacts" -type f -printf '  artifact: %p\n'
    echo "  log: $work/log; its end:"
    tail -n 40 "$work/log" | sed 's/^/  | /'
    exit 1
fi

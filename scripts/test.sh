#!/usr/bin/env bash
# Installs what it needs, builds onestor twice (warnings as errors; and with ASan+UBSan) and
# runs every suite -- unit (doctest) and end-to-end (real sshd hosts, real qemu-img,
# genisoimage) -- through ctest in each build. Needs root (test hosts use mount namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "scripts/test.sh must run as root (test hosts need mount namespaces)" >&2; exit 1; }
bash scripts/deps.sh

run_suite() {  # run_suite BUILD_DIR "CTEST_ARGS" CMAKE_OPTIONS...
    local dir=$1 args=$2; shift 2
    cmake -S . -B "$dir" -DONESTOR_WERROR=ON "$@" >/dev/null
    cmake --build "$dir" -j"$(nproc)" >/dev/null
    # shellcheck disable=SC2086
    ( cd "$dir" && ctest -j"$(nproc)" --output-on-failure $args ) | tee "$dir/ctest.log"
}

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# Every suite on the normal build; the unit tests and the core end-to-end suites (label
# "sanitized") again on the ASan+UBSan build.
run_suite build ""
run_suite build-asan "-L sanitized" -DONESTOR_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug

# One closing line for both runs.
total=0 failed=0
for log in build/ctest.log build-asan/ctest.log; do
    line=$(grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' "$log" | tail -1)
    t=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line")
    f=$(sed -E 's/.*tests passed, ([0-9]+) tests failed.*/\1/' <<<"$line")
    total=$((total + t)) failed=$((failed + f))
done
echo "$((total - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]

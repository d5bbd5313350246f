#!/usr/bin/env bash
# Installs what it needs, builds onestor three times, each in a build directory of its own
# with every option it depends on set here (so no other build's cache can change what runs),
# and runs its suites through ctest:
#   build-test  g++, warnings as errors: unit (doctest), every end-to-end suite
#               test/e2e/test_*.sh (real sshd hosts, real qemu-img, genisoimage, ...) and
#               the package + container suite test/container/test_container.sh
#   build-asan  g++ with ASan+UBSan: the unit tests and the suites labelled "sanitized"
#   build-fuzz  clang++ -fsanitize=fuzzer: a bounded run of every libFuzzer target
#               (test/fuzz; ONESTOR_FUZZ_SECONDS each, default 30, two at a time)
# Then it checks that every suite it expects ran (from the sources: unit, the e2e scripts,
# SANITIZED_SUITES, FUZZ_TARGETS), naming any that did not, and always ends with one line
# "N passed, N failed" over all three, where a failed step (packages, configure, build) and
# an expected suite that did not run each count as failed. Needs root (mount namespaces).
# ONESTOR_E2E_PORT_BASE (default 2300): suite N's test hosts listen on that + N.
set -uo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "scripts/test.sh must run as root (test hosts need mount namespaces)" >&2; exit 1; }

PASSED=0 FAILED=0
PROBLEMS=()
problem() { FAILED=$((FAILED + 1)); PROBLEMS+=("$1"); echo "test.sh: FAILED: $1" >&2; }
closing() {
    local p
    if [ ${#PROBLEMS[@]} -gt 0 ]; then
        echo
        echo "test.sh: what failed or did not run:"
        for p in "${PROBLEMS[@]}"; do echo "  - $p"; done
    fi
    echo "$PASSED passed, $FAILED failed"
}
trap 'closing' EXIT
trap 'problem "interrupted"; exit 130' INT TERM

bash scripts/deps.sh || problem "installing the packages (scripts/deps.sh)"

# The house style (.clang-format): a source file clang-format would change is a failure.
mapfile -t style_files < <(find src include test -name '*.cpp' -o -name '*.hpp' | sort)
if [ ${#style_files[@]} -eq 0 ]; then
    problem "style: no C++ sources found"
elif clang-format --dry-run -Werror "${style_files[@]}" 2>/tmp/onestor-style.$$; then
    PASSED=$((PASSED + 1)); echo "== style: ${#style_files[@]} files as .clang-format says"
else
    head -n 20 /tmp/onestor-style.$$ >&2
    problem "style: files clang-format would change (run: clang-format -i on them)"
fi
rm -f /tmp/onestor-style.$$

# The suites each build must run, read from the sources (not from a build's cache).
e2e_tests=()
for s in test/e2e/test_*.sh; do e2e_tests+=("e2e_$(basename "$s" .sh)"); done
sanitized_tests=(unit)
for s in $(sed -n 's/^ *set(SANITIZED_SUITES \(.*\))/\1/p' test/CMakeLists.txt); do sanitized_tests+=("e2e_$s"); done
fuzz_tests=()
for t in $(sed -n 's/^ *set(FUZZ_TARGETS \(.*\))/\1/p' test/fuzz/CMakeLists.txt); do fuzz_tests+=("fuzz_$t"); done
# The package and container suite (test/CMakeLists.txt registers it as "container").
container_tests=()
[ -f test/container/test_container.sh ] && container_tests=(container)
[ ${#e2e_tests[@]} -gt 0 ] || problem "no end-to-end suite found (test/e2e/test_*.sh)"
[ ${#sanitized_tests[@]} -gt 1 ] || problem "no SANITIZED_SUITES found in test/CMakeLists.txt"
[ ${#fuzz_tests[@]} -gt 0 ] || problem "no FUZZ_TARGETS found in test/fuzz/CMakeLists.txt"

# stage NAME DIR "CTEST_ARGS" "EXPECTED TESTS" CMAKE_OPTIONS...: configure, build, run ctest,
# and count from its JUnit report (one <testcase> per test, whatever ctest prints).
stage() {
    local name=$1 dir=$2 args=$3 expected=$4; shift 4
    echo "== $name: $dir"
    mkdir -p "$dir"
    if ! cmake -S . -B "$dir" "$@" >"$dir/configure.log" 2>&1; then
        tail -n 30 "$dir/configure.log" >&2
        problem "$name: cmake configure of $dir (log: $dir/configure.log); its suites did not run: $expected"
        return
    fi
    if ! cmake --build "$dir" -j"$(nproc)" >"$dir/build.log" 2>&1; then
        grep -E 'error|Error' "$dir/build.log" | head -n 30 >&2
        problem "$name: build of $dir (log: $dir/build.log); its suites did not run: $expected"
        return
    fi
    rm -f "$dir/junit.xml"
    # shellcheck disable=SC2086
    (cd "$dir" && ctest -j"$(nproc)" --output-on-failure --output-junit junit.xml $args) | tee "$dir/ctest.log"
    local ran="" line tname status
    if [ -f "$dir/junit.xml" ]; then
        while read -r line; do
            tname=$(sed -E 's/.* name="([^"]*)".*/\1/' <<<"$line")
            status=$(sed -E 's/.* status="([^"]*)".*/\1/' <<<"$line")
            ran="$ran $tname "
            case "$status" in
                run) PASSED=$((PASSED + 1)) ;;
                *) problem "$name: $tname ($status)" ;;
            esac
        done < <(grep -oE '<testcase name="[^"]*"[^>]* status="[^"]*"' "$dir/junit.xml")
    fi
    local missing=() t
    for t in $expected; do [[ "$ran" == *" $t "* ]] || missing+=("$t"); done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "test.sh: MISSING SUITES in the $name set ($dir): ${missing[*]} did not run" >&2
        for t in "${missing[@]}"; do problem "$name: $t did not run (expected from the sources; ctest in $dir did not report it)"; done
    fi
}

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
common=(-DONESTOR_TESTS=ON -DONESTOR_FUZZ=OFF -DONESTOR_E2E_PORT_BASE="${ONESTOR_E2E_PORT_BASE:-2300}")
stage "normal" build-test "" "unit ${e2e_tests[*]} ${container_tests[*]}" "${common[@]}" \
    -DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DONESTOR_WERROR=ON -DONESTOR_SANITIZE=OFF
stage "sanitized" build-asan "-L sanitized" "${sanitized_tests[*]}" "${common[@]}" \
    -DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=Debug -DONESTOR_WERROR=ON -DONESTOR_SANITIZE=ON
export ONESTOR_FUZZ_SECONDS=${ONESTOR_FUZZ_SECONDS:-30}
# Warnings are errors in the g++ builds above; clang's extra ones do not stop the fuzzing.
stage "fuzz" build-fuzz "-L fuzz" "${fuzz_tests[*]}" -DONESTOR_TESTS=OFF -DONESTOR_FUZZ=ON \
    -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DONESTOR_WERROR=OFF -DONESTOR_SANITIZE=OFF
# Executions and crashes per fuzz target (run.sh's summary line, kept in the JUnit report).
grep -ohE 'fuzz [a-z_0-9]+: [0-9]+ executions, [0-9]+ crashes' build-fuzz/junit.xml 2>/dev/null || true

[ "$FAILED" -eq 0 ]

#!/usr/bin/env bash
# Builds the libFuzzer targets in Fuzz/ (fuzzer + address sanitizers, release with overflow
# checks) and runs each one for a set time from its seed corpus, then prints per target the
# executions, the coverage reached and the crashes found. See Fuzz/README.md.
#
#   Scripts/fuzz.sh [--seconds N] [--jobs N] [--out DIR] [target...]
#
# Targets: protocol-line, config-file, safetensors (default: all three). --seconds is per
# target (default 600). --jobs is how many targets run at once (default 1: the machine is
# shared; the targets are single-threaded). The growing corpora, logs and crash inputs go to
# --out (default .build-fuzz/ in the repository, which git ignores); Fuzz/Corpus/ holds only
# the small committed seeds and is never written.
# Exit status: 0 when no target crashed, 1 when one did, 2 on a usage or build error or an
# uninstrumented build.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
seconds=600
jobs=1
out="$root/.build-fuzz"
targets=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        --jobs) jobs="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        protocol-line|config-file|safetensors) targets+=("$1"); shift ;;
        *) echo "fuzz.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[[ ${#targets[@]} -gt 0 ]] || targets=(protocol-line config-file safetensors)
[[ "$seconds" =~ ^[0-9]+$ && "$jobs" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: --seconds and --jobs take numbers" >&2; exit 2; }

executable() {
    case "$1" in
        protocol-line) echo FuzzProtocolLine ;;
        config-file) echo FuzzConfigFile ;;
        safetensors) echo FuzzSafeTensors ;;
    esac
}

export SWIFT_BACKTRACE=enable=no  # the Swift backtracer reads memory ASan then reports as an overflow
# Both spellings: SwiftPM's --sanitize makes it leave main to libFuzzer but (Swift 6.3) passes
# the flags only to the link, so -Xswiftc puts the coverage and ASan instrumentation in the
# compiled code.
flags=(-c release --sanitize fuzzer --sanitize address -Xswiftc -sanitize=fuzzer,address)
echo "== building Fuzz/ (release, fuzzer + address sanitizers)"
(cd "$root/Fuzz" && swift build "${flags[@]}") || exit 2
bin="$(cd "$root/Fuzz" && swift build "${flags[@]}" --show-bin-path)"

run() {
    local target="$1" dir="$out/$1"
    mkdir -p "$dir/corpus" "$dir/crashes"
    # -rss_limit_mb: ASan's quarantine plus the corpus; a real leak or blow-up still trips it.
    "$bin/$(executable "$target")" "$dir/corpus" "$root/Fuzz/Corpus/$target" \
        -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=3072 -timeout=10 \
        -artifact_prefix="$dir/crashes/" >"$dir/log" 2>&1 || true
}

echo "== running ${targets[*]} for ${seconds} s each, $jobs at a time; logs in $out/<target>/log"
running=0
for target in "${targets[@]}"; do
    run "$target" &
    running=$((running + 1))
    if [[ $running -ge $jobs ]]; then wait -n || true; running=$((running - 1)); fi
done
wait

status=0
printf '\n%-14s %12s %8s %10s %8s %8s %8s\n' target executions exec/s coverage features corpus crashes
for target in "${targets[@]}"; do
    dir="$out/$target"
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log" | tail -1)"
    last="$(grep -E '^#[0-9]+' "$dir/log" | tail -1 || true)"
    cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")"
    ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")"
    corpus="$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")"
    crashes="$(find "$dir/crashes" -type f | wc -l)"
    printf '%-14s %12s %8s %10s %8s %8s %8s\n' "$target" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corpus:-?}" "$crashes"
    if [[ -z "$cov" ]]; then
        status=2
        echo "   $target: no coverage reported: the build is not instrumented"
    fi
    if [[ "$crashes" -gt 0 ]] || grep -q '==ERROR\|Fatal error\|deadly signal' "$dir/log"; then
        status=1
        echo "   $target: $(grep -m1 -E 'Fatal error|==ERROR|deadly signal' "$dir/log" || echo 'see the log')"
        find "$dir/crashes" -type f | sed 's/^/   input: /'
    fi
done
exit $status

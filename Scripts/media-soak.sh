#!/usr/bin/env bash
# Runs the media tests RUNS times in a row, each next to LOAD busy loops (plain shell loops
# that keep LOAD cores busy), and counts the runs that fail and the runs that hang (do not
# finish within LIMIT seconds; their output is kept). Races between GStreamer's threads and
# Sightline's show up far more often on a loaded machine.
#
#   bash Scripts/media-soak.sh [RUNS=20] [LOAD=4] [LIMIT=600]
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
load=${2:-4}
limit=${3:-600}
swift build --build-tests >/dev/null || exit 1

busy=()
stop_load() { for pid in "${busy[@]}"; do kill "$pid" 2>/dev/null; done; }
trap stop_load EXIT
for _ in $(seq "$load"); do
    ( while :; do :; done ) &
    busy+=("$!")
done

logs=$(mktemp -d)
passed=0 failed=0 hung=0
for run in $(seq "$runs"); do
    start=$(date +%s)
    timeout --kill-after=10 "$limit" swift test --skip-build --filter SightlineMediaTests >"$logs/run-$run.txt" 2>&1
    status=$?
    took=$(( $(date +%s) - start ))
    case $status in
        0) passed=$((passed + 1)); rm "$logs/run-$run.txt"; verdict=passed ;;
        124|137) hung=$((hung + 1)); verdict="HUNG (output: $logs/run-$run.txt)" ;;
        *) failed=$((failed + 1)); verdict="FAILED (output: $logs/run-$run.txt)" ;;
    esac
    echo "run $run/$runs: $verdict in ${took}s"
done
echo "media tests, $runs runs next to $load busy loops: $passed passed, $failed failed, $hung hung"
[ "$failed" -eq 0 ] && [ "$hung" -eq 0 ]

#!/usr/bin/env bash
# The main job: installs Debian packages, builds, starts the daemon on the bundled sample clip
# (Tests/Fixtures/media/bikes.mp4) with the standing query "a person riding a bike", prints
# the events as they come, and exits when the clip ends.
set -euo pipefail
cd "$(dirname "$0")/.."
. Scripts/packages.sh
# shellcheck disable=SC2086
sightline_install_packages $SIGHTLINE_BUILD_PACKAGES
swift build -c release --product sightlined
swift build -c release --product sightline
bin=.build/release

# The model: the real checkpoint when present, else the bundled tiny test model.
repo="openai/clip-vit-base-patch16"
model="${SIGHTLINE_MODEL:-}"
if [ -z "$model" ]; then
    store="${XDG_DATA_HOME:-$HOME/.local/share}/sightline/models/$repo"
    if [ -f "$store/model.safetensors" ]; then
        model="$store"
    else
        model="Tests/Fixtures/clip/tiny-gelu-p14"
        echo "sightline: $repo is not in the model store; running the bundled tiny test model instead"
    fi
fi
if grep -q '"sightline_test_model": true' "$model/config.json" 2>/dev/null; then
    cat <<'EOF'
==========================================================================================
  DEMO WITH THE BUNDLED TINY TEST MODEL: its weights are random, so its matches MEAN
  NOTHING. This run shows the daemon, the protocol and the events, not grounding quality.
  Get a real model with: sightline model pull openai/clip-vit-base-patch16
==========================================================================================
EOF
fi

run="$(mktemp -d /tmp/sightline-demo-XXXXXX)"
socket="$run/sightline.sock"
daemon_pid=""
tail_pid=""
cleanup() {
    [ -n "$tail_pid" ] && kill "$tail_pid" 2>/dev/null || true
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid"
        wait "$daemon_pid" 2>/dev/null || true
    fi
    rm -rf "$run"
}
trap cleanup EXIT

SIGHTLINE_CONFIG=/dev/null "$bin/sightlined" --socket "$socket" --state-dir "$run/state" --model "$model" \
    --log-level warning 2>"$run/daemon.log" &
daemon_pid=$!
for _ in $(seq 1 200); do
    "$bin/sightline" status --socket "$socket" >/dev/null 2>&1 && break
    kill -0 "$daemon_pid" 2>/dev/null || { cat "$run/daemon.log" >&2; exit 1; }
    sleep 0.1
done

client() { "$bin/sightline" "$@" --socket "$socket"; }
query=$(client query add "a person riding a bike")
echo "standing query $query: \"a person riding a bike\""
# Subscribe before the stream starts, so that no event is missed; tail exits when it ends.
client tail --stream bikes --exit-when-ended &
tail_pid=$!
sleep 0.5
client stream add Tests/Fixtures/media/bikes.mp4 --id bikes --fps 4 >/dev/null
wait "$tail_pid"
tail_pid=""
echo
client status

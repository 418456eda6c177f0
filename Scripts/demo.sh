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

# The model: pull the real checkpoint when it is missing and the hub is reachable; else use a
# copy already in a model store; else the bundled tiny test model.
repo="openai/clip-vit-base-patch16"
model="${SIGHTLINE_MODEL:-}"
if [ -z "$model" ]; then
    if model=$("$bin/sightline" model pull "$repo" 2>"$run/pull.log"); then
        echo "sightline: using $repo ($model)"
    else
        model=""
        for root in "${SIGHTLINE_MODEL_DIR:-}" /var/lib/sightline/models "${XDG_CACHE_HOME:-$HOME/.cache}/sightline/models"; do
            if [ -n "$root" ] && [ -f "$root/$repo/current/config.json" ]; then model="$root/$repo/current"; break; fi
        done
        if [ -n "$model" ]; then
            echo "sightline: cannot pull $repo now; using the copy in $model"
        else
            reason=$(tail -n 1 "$run/pull.log" | sed 's/^sightline: //' | cut -d';' -f1)
            echo "sightline: cannot pull $repo ($reason); running the bundled tiny test model instead"
            model="Tests/Fixtures/clip/tiny-gelu-p14"
        fi
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

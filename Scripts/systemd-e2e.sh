#!/usr/bin/env bash
# End-to-end test of the systemd integration: boots a real systemd (as PID 1 of a
# systemd-nspawn container on a Debian bookworm minbase root), installs Sightline into it
# with `sightline install`, and checks socket activation, READY=1, group access to the
# socket, `systemctl reload`, the watchdog, journald priorities and `sightline uninstall`.
# Each check prints PASS or FAIL with what it saw; the exit status is non-zero when any
# check fails. Needs root. See Scripts/README.md.
#
# Environment:
#   SIGHTLINE_E2E_CACHE    where the pristine root is kept between runs (/var/cache/sightline-e2e)
#   SIGHTLINE_E2E_SCRATCH  the swift build scratch path (.build-e2e)
#   SIGHTLINE_E2E_MIRROR   the Debian mirror (default: the host's, from its apt sources)
#   SIGHTLINE_E2E_KEEP=1   keep the run's root after the run (for inspection)
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$PWD
# shellcheck source=packages.sh
source Scripts/packages.sh

[ "$(id -u)" -eq 0 ] || { echo "systemd-e2e: needs root (debootstrap, systemd-nspawn)" >&2; exit 2; }

CACHE=${SIGHTLINE_E2E_CACHE:-/var/cache/sightline-e2e}
SCRATCH=${SIGHTLINE_E2E_SCRATCH:-.build-e2e}
START=$(date +%s)
FAILURES=0
CHECKS=0

log() { echo "systemd-e2e [$(( $(date +%s) - START ))s]: $*" >&2; }
pass() { CHECKS=$((CHECKS + 1)); echo "PASS $1: $2"; }
fail() { CHECKS=$((CHECKS + 1)); FAILURES=$((FAILURES + 1)); echo "FAIL $1: $2"; }

# ---- packages and binaries ---------------------------------------------------------------
sightline_install_packages systemd-container debootstrap
log "building the release binaries (no-op when up to date)"
swift build -c release --scratch-path "$SCRATCH" --product sightlined >&2
swift build -c release --scratch-path "$SCRATCH" --product sightline >&2
BIN=$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)
for b in sightline sightlined; do [ -x "$BIN/$b" ] || { echo "systemd-e2e: no $BIN/$b" >&2; exit 2; }; done

# ---- the cached root ---------------------------------------------------------------------
# What sightlined needs at run time, besides systemd itself; bikes.mp4 is H.264 in MP4.
# dbus-user-session: debootstrap does not resolve alternatives, and plugins-good's
# dependencies (through dconf-service) need a dbus-session-bus.
ROOT_PACKAGES="systemd,systemd-sysv,dbus,dbus-user-session,util-linux,libsystemd0,libopenblas0-pthread,libdnnl2,libgstreamer1.0-0,\
libgstreamer-plugins-base1.0-0,gstreamer1.0-plugins-base,gstreamer1.0-plugins-good,gstreamer1.0-libav"
ROOT_STAMP="bookworm minbase $ROOT_PACKAGES"
PRISTINE=$CACHE/root

mirror() {
    if [ -n "${SIGHTLINE_E2E_MIRROR:-}" ]; then echo "$SIGHTLINE_E2E_MIRROR"; return; fi
    local m
    m=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null \
        | grep -v security | grep -oE 'https?://[^ ]*debian/?' | head -1)
    echo "${m:-http://deb.debian.org/debian}"
}

root_ok() {
    [ -f "$PRISTINE/.sightline-e2e-stamp" ] && [ "$(cat "$PRISTINE/.sightline-e2e-stamp")" = "$ROOT_STAMP" ] \
        && [ -x "$PRISTINE/usr/lib/systemd/systemd" ] && [ -x "$PRISTINE/usr/bin/journalctl" ] \
        && chroot "$PRISTINE" /usr/bin/dpkg-query -W gstreamer1.0-libav libopenblas0-pthread libdnnl2 >/dev/null 2>&1 \
        && [ -z "$(chroot "$PRISTINE" /usr/bin/dpkg --audit 2>&1)" ]
}

if root_ok; then
    log "using the cached root $PRISTINE"
else
    log "building a bookworm minbase root in $PRISTINE from $(mirror) (a few minutes)"
    mkdir -p "$CACHE"
    rm -rf "$PRISTINE" "$PRISTINE.new"
    if ! debootstrap --variant=minbase --include="$ROOT_PACKAGES" bookworm "$PRISTINE.new" "$(mirror)" > "$CACHE/debootstrap.log" 2>&1; then
        tail -20 "$CACHE/debootstrap.log" >&2
        echo "systemd-e2e: debootstrap failed (log: $CACHE/debootstrap.log)" >&2
        exit 2
    fi
    rm -rf "$PRISTINE.new/var/cache/apt/archives/"*.deb
    echo "$ROOT_STAMP" > "$PRISTINE.new/.sightline-e2e-stamp"
    mv "$PRISTINE.new" "$PRISTINE"
fi

# ---- this run's root ---------------------------------------------------------------------
RUN=$(mktemp -d "$CACHE/run.XXXXXX")
ROOT=$RUN/root
NSPAWN_PID=""
LEADER=""

cleanup() {
    local rc=$?
    if [ -n "$LEADER" ] && kill -0 "$LEADER" 2>/dev/null; then
        # SIGRTMIN+4 asks systemd to power off; nspawn then exits.
        kill -s SIGRTMIN+4 "$LEADER" 2>/dev/null || true
        for _ in $(seq 1 30); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.5; done
    fi
    if [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
        kill "$NSPAWN_PID" 2>/dev/null || true
        sleep 1
        kill -9 "$NSPAWN_PID" 2>/dev/null || true
    fi
    if [ "${SIGHTLINE_E2E_KEEP:-0}" = 1 ]; then
        log "kept $RUN"
    else
        rm -rf "$RUN"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "copying the root to $ROOT"
cp -a --reflink=auto "$PRISTINE" "$ROOT"

# The Swift runtime the binaries link from the toolchain, at the same paths (their RPATH).
for lib in $(ldd "$BIN/sightlined" "$BIN/sightline" | awk '/=> \// {print $3}' | sort -u); do
    case "$lib" in
        /lib/*|/usr/lib/*) [ -e "$ROOT$lib" ] || [ -e "$ROOT/usr$lib" ] || { mkdir -p "$ROOT$(dirname "$lib")"; cp -L "$lib" "$ROOT$lib"; } ;;
        *) mkdir -p "$ROOT$(dirname "$lib")"; cp -L "$lib" "$ROOT$lib" ;;
    esac
done
# What `sightline install` reads: the built binaries and the tree's Deploy/, Config/, Docs/
# and test checkpoints; and the model and media the test uses.
SRC=/opt/sightline-src
mkdir -p "$ROOT$SRC/bin" "$ROOT$SRC/Tests/Fixtures" "$ROOT/opt/sightline-test"
cp "$BIN/sightline" "$BIN/sightlined" "$ROOT$SRC/bin/"
cp -a Deploy Config Docs "$ROOT$SRC/"
cp -a Tests/Fixtures/clip "$ROOT$SRC/Tests/Fixtures/"
cp -rL Tests/Fixtures/clip/tiny-gelu-p14 "$ROOT/opt/sightline-test/model"
cp Tests/Fixtures/media/bikes.mp4 "$ROOT/opt/sightline-test/"
chmod -R a+rX "$ROOT/opt/sightline-test"
# Host name and machine id of the container's own.
echo sightline-e2e > "$ROOT/etc/hostname"
: > "$ROOT/etc/machine-id"

# ---- boot --------------------------------------------------------------------------------
ct() { nsenter -t "$LEADER" -a -- env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
ct_sh() { ct /bin/sh -c "$1"; }

# Starts the container and waits for its systemd to finish booting (up to $1 seconds).
# Leaves NSPAWN_PID and LEADER (the container's PID 1, as a host pid) set; on failure prints
# what it saw, stops the container and returns 1.
boot() {
    local wait=$1 state="" error=""
    systemd-nspawn --boot --register=no --keep-unit --console=passive -D "$ROOT" --machine=sightline-e2e \
        > "$RUN/console.log" 2>&1 < /dev/null &
    NSPAWN_PID=$!
    LEADER=""
    for _ in $(seq 1 100); do
        LEADER=$(pgrep -P "$NSPAWN_PID" | head -1 || true)
        [ -n "$LEADER" ] && [ "$(readlink "/proc/$LEADER/exe" 2>/dev/null)" != "$(readlink "/proc/$NSPAWN_PID/exe")" ] && break
        LEADER=""
        sleep 0.2
    done
    if [ -n "$LEADER" ]; then
        for _ in $(seq 1 $(( wait * 2 ))); do
            state=$(ct systemctl is-system-running 2> "$RUN/systemctl.err" || true)
            case "$state" in running|degraded) STATE=$state; return 0 ;; esac
            sleep 0.5
        done
        error=$(cat "$RUN/systemctl.err")
    fi
    echo "systemd-e2e: the container did not finish booting: state '$state', systemctl said '$error'" >&2
    echo "systemd-e2e: nspawn pid $NSPAWN_PID, leader '${LEADER:-none}' ($( [ -n "$LEADER" ] && readlink "/proc/$LEADER/exe" 2>/dev/null ))" >&2
    ps -o pid,ppid,stat,etime,args --ppid "$NSPAWN_PID" >&2 || true
    [ -n "$LEADER" ] && ps -o pid,stat,etime,args --ppid "$LEADER" >&2 || true
    echo "systemd-e2e: console:" >&2
    tail -40 "$RUN/console.log" >&2
    kill "$NSPAWN_PID" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$NSPAWN_PID" 2>/dev/null || true
    wait "$NSPAWN_PID" 2>/dev/null || true
    NSPAWN_PID="" LEADER=""
    return 1
}

log "booting systemd in the container"
STATE=""
# A second try: a boot that stalls on a loaded machine should not sink the whole run, and
# the first try's diagnostics are printed either way.
if boot 90 || { log "booting again"; boot 120; }; then
    pass boot "systemd in the container is $STATE (PID 1 is host pid $LEADER)"
else
    fail boot "systemd did not finish booting twice (see above)"
    exit 1
fi

# Waits up to $1 seconds for the shell condition $2 inside the container.
ct_wait() {
    local t=$(( $1 * 5 ))
    for _ in $(seq 1 "$t"); do ct_sh "$2" >/dev/null 2>&1 && return 0; sleep 0.2; done
    return 1
}

# ---- install -----------------------------------------------------------------------------
CFG=/etc/sightline/sightlined.toml
if out=$(ct "$SRC/bin/sightline" install --source "$SRC" --bin-dir "$SRC/bin" 2>&1); then
    pass install "$(echo "$out" | grep -c . ) steps; $(echo "$out" | grep 'run systemctl' | tr '\n' ';')"
else
    fail install "exit $?: $out"
fi

# The model the brief points at, instead of the default search.
ct_sh "sed -i 's|^\[model\]\$|[model]\npath = \"/opt/sightline-test/model\"|' $CFG"

# ---- socket activation -------------------------------------------------------------------
ct systemctl stop sightlined.service || true
sock=$(ct systemctl is-active sightlined.socket || true)
svc=$(ct systemctl is-active sightlined.service || true)
ct_sh "test -S /run/sightline/sightline.sock" && sockfile=present || sockfile=missing
if [ "$sock" = active ] && [ "$svc" != active ]; then
    out=$(ct sightline status 2>&1 || true)
    svc2=$(ct systemctl is-active sightlined.service || true)
    started=$(ct systemctl show -p ExecMainStartTimestamp --value sightlined.service)
    if [ "$svc2" = active ]; then
        pass socket-activation "socket active, $sockfile; service $svc before the first client, $svc2 after (started $started); status: $(echo "$out" | head -1)"
    else
        fail socket-activation "socket active; service still '$svc2' after 'sightline status': $out"
    fi
else
    fail socket-activation "before the first client: socket '$sock', service '$svc' (want active, inactive)"
fi

# ---- READY=1 -----------------------------------------------------------------------------
# Type=notify: active only once READY=1 was sent; activating until then.
ct_wait 30 '[ "$(systemctl is-active sightlined.service)" = active ]' || true
act=$(ct systemctl is-active sightlined.service || true)
sub=$(ct systemctl show -p SubState --value sightlined.service)
status=$(ct systemctl show -p StatusText --value sightlined.service)
if [ "$act" = active ] && [ "$sub" = running ]; then
    pass ready "is-active $act ($sub), STATUS=\"$status\""
else
    fail ready "is-active '$act' ($sub), STATUS=\"$status\""
fi

# ---- a member of the sightline group --------------------------------------------------------
ct useradd --create-home --groups sightline alice
if out=$(ct runuser -u alice -- sightline query add "a person riding a bike" 2>&1); then
    list=$(ct runuser -u alice -- sightline query ls 2>&1 || true)
    if echo "$list" | grep -q "a person riding a bike"; then
        pass group-access "alice (group sightline) added a query: $(echo "$out" | head -1)"
    else
        fail group-access "query add said '$out' but query ls shows: $list"
    fi
else
    fail group-access "sightline query add as alice failed: $out"
fi
ct useradd --create-home bob
if out=$(ct runuser -u bob -- sightline query add "not allowed" 2>&1); then
    fail group-access-denied "bob (not in the group) could add a query: $out"
else
    pass group-access-denied "bob (not in the group) refused: $(echo "$out" | head -1)"
fi

# ---- reload ------------------------------------------------------------------------------
ct_sh "cat >> $CFG <<'EOF'

[stream.bikes]
uri = \"file:///opt/sightline-test/bikes.mp4\"
fps = 5
loop = true

[query.from-config]
text = \"a taxi\"
streams = [\"bikes\"]
EOF"
pid_before=$(ct systemctl show -p MainPID --value sightlined.service)
ct systemctl reload sightlined.service || true
if ct_wait 20 'sightline query ls | grep -q from-config'; then
    pid_after=$(ct systemctl show -p MainPID --value sightlined.service)
    streams=$(ct sightline stream ls 2>&1 | grep -c bikes || true)
    pass reload "query.from-config listed after systemctl reload (MainPID $pid_before -> $pid_after, stream bikes listed: $streams)"
else
    fail reload "query.from-config not listed after reload: $(ct sightline query ls 2>&1)"
fi

# ---- watchdog ----------------------------------------------------------------------------
# A drop-in inside this container only: the engine hangs at its first batch, and a short
# watchdog so that the test does not wait 30 s.
ct_sh "mkdir -p /etc/systemd/system/sightlined.service.d && printf '[Service]\nEnvironment=SIGHTLINE_DEBUG_HANG_ENGINE=1\nWatchdogSec=6s\n' > /etc/systemd/system/sightlined.service.d/e2e-hang.conf"
ct systemctl daemon-reload
ct systemctl restart sightlined.service || true
restarts_before=$(ct systemctl show -p NRestarts --value sightlined.service)
pid_before=$(ct systemctl show -p MainPID --value sightlined.service)
if ct_wait 40 "[ \$(systemctl show -p NRestarts --value sightlined.service) -gt $restarts_before ]"; then
    wd=$(ct journalctl -u sightlined.service --no-pager -o cat 2>/dev/null | grep -i 'watchdog timeout' | tail -1 || true)
    ct_wait 20 '[ "$(systemctl is-active sightlined.service)" = active ]' || true
    pid_after=$(ct systemctl show -p MainPID --value sightlined.service)
    if [ -n "$wd" ]; then
        pass watchdog "hung engine killed and restarted: '$wd'; NRestarts $restarts_before -> $(ct systemctl show -p NRestarts --value sightlined.service), MainPID $pid_before -> $pid_after"
    else
        fail watchdog "restarted (NRestarts grew) but no watchdog timeout in the journal: $(ct journalctl -u sightlined.service --no-pager -o cat -n 8 2>&1)"
    fi
else
    fail watchdog "no restart within 40 s; state $(ct systemctl is-active sightlined.service || true); journal: $(ct journalctl -u sightlined.service --no-pager -o cat -n 8 2>&1)"
fi
# ---- journald priorities -----------------------------------------------------------------
# sightlined writes "<N>" prefixes on stderr; journald stores them as PRIORITY=N.
prios=$(ct journalctl -u sightlined.service -o json --no-pager 2>/dev/null | grep -oE '"PRIORITY" ?: ?"[0-9]"' | tr -d ' ' | sort | uniq -c | tr -s ' \n' ' ' || true)
if echo "$prios" | grep -q '"PRIORITY":"[0-57]"'; then
    pass journal-priorities "PRIORITY counts of sightlined's lines:$prios"
else
    fail journal-priorities "no PRIORITY other than 6 among sightlined's lines:$prios"
fi
warn=$(ct journalctl -u sightlined.service -p warning --no-pager -o cat 2>/dev/null | grep -c SIGHTLINE_DEBUG_HANG_ENGINE || true)
if [ "${warn:-0}" -gt 0 ]; then
    pass journal-warning "journalctl -p warning shows the hang switch's warning ($warn lines)"
else
    fail journal-warning "journalctl -p warning shows no SIGHTLINE_DEBUG_HANG_ENGINE line"
fi
ct rm -rf /etc/systemd/system/sightlined.service.d
ct systemctl daemon-reload
ct systemctl reset-failed sightlined.service || true
ct systemctl restart sightlined.service || true

# ---- uninstall ---------------------------------------------------------------------------
if out=$(ct sightline uninstall --purge 2>&1); then
    pass uninstall-runs "$(echo "$out" | grep -c .) steps"
else
    fail uninstall-runs "exit $?: $out"
fi
left=$(ct_sh 'for p in /usr/local/bin/sightline /usr/local/bin/sightlined \
    /usr/local/lib/systemd/system/sightlined.service /usr/local/lib/systemd/system/sightlined.socket \
    /etc/systemd/system/sightlined.service /etc/systemd/system/sightlined.socket \
    /usr/local/lib/sysusers.d/sightline.conf /usr/local/lib/tmpfiles.d/sightline.conf \
    /etc/sightline /usr/local/share/sightline /usr/local/share/doc/sightline \
    /var/lib/sightline /var/cache/sightline /run/sightline/sightline.sock \
    /etc/systemd/system/sockets.target.wants/sightlined.socket \
    /etc/systemd/system/multi-user.target.wants/sightlined.service; do [ -e "$p" ] && echo "$p"; done; true')
loaded=$(ct systemctl list-units --all --no-legend 'sightlined*' 2>/dev/null | grep -v 'not-found' || true)
user=$(ct getent passwd sightline | cut -d: -f1 || true)
if [ -z "$left" ] && [ -z "$loaded" ]; then
    pass uninstall-clean "no files, no loaded units left; system user '${user:-none}' kept (documented)"
else
    fail uninstall-clean "left: ${left:-no files}; units: ${loaded:-none}"
fi

echo "systemd-e2e: $((CHECKS - FAILURES)) of $CHECKS checks passed in $(( $(date +%s) - START ))s"
[ "$FAILURES" -eq 0 ]

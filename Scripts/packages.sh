# Debian packages Sightline builds and runs with. Sourced by the other scripts.
# Installing is idempotent: apt-get runs only when something is missing.

SIGHTLINE_BUILD_PACKAGES="pkg-config libopenblas-dev libdnnl-dev libsqlite3-dev libsystemd-dev libssl-dev libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev \
gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly \
gstreamer1.0-libav gstreamer1.0-tools"
# Tests also serve RTSP from the test itself and check systemd units with systemd's own tools.
SIGHTLINE_TEST_PACKAGES="gstreamer1.0-rtsp libgstrtspserver-1.0-dev python3-gi gir1.2-gst-rtsp-server-1.0 systemd util-linux"

sightline_install_packages() {
    local missing=()
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local noun="packages"; [ ${#missing[@]} -eq 1 ] && noun="package"
    echo "sightline: installing ${#missing[@]} Debian $noun (about a minute on a fresh machine): ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "sightline: apt-get update" >&2
    $sudo apt-get update -qq
    # apt's own lines (one per package fetched, unpacked and set up) show that it moves;
    # they go to standard error so that a caller's standard output stays its own.
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -o Dpkg::Use-Pty=0 "${missing[@]}" \
        | grep --line-buffered -E '^(Get:|Unpacking|Setting up) ' >&2 || true
    local p2 still=()
    for p2 in "${missing[@]}"; do
        dpkg-query -W -f='${Status}' "$p2" 2>/dev/null | grep -q "install ok installed" || still+=("$p2")
    done
    if [ ${#still[@]} -ne 0 ]; then
        echo "sightline: apt-get could not install: ${still[*]}" >&2
        return 1
    fi
    echo "sightline: installed ${#missing[@]} Debian $noun" >&2
}

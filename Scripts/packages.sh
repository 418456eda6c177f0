# Debian packages Sightline builds and runs with. Sourced by the other scripts.
# Installing is idempotent: apt-get runs only when something is missing.

SIGHTLINE_BUILD_PACKAGES="pkg-config libopenblas-dev libsystemd-dev libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev \
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
    echo "sightline: installing Debian packages: ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

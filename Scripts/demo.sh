#!/usr/bin/env bash
# The main job: installs Debian packages, builds, and runs Sightline on the bundled sample clip.
set -euo pipefail
cd "$(dirname "$0")/.."
. Scripts/packages.sh
# shellcheck disable=SC2086
sightline_install_packages $SIGHTLINE_BUILD_PACKAGES
swift build -c release --product sightline
.build/release/sightline --help

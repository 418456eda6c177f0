#!/usr/bin/env bash
# Installs what the tests need, builds, and runs every test. No Python is needed:
# the parity fixtures are committed (Tests/Fixtures/README.md says how they were made).
set -euo pipefail
cd "$(dirname "$0")/.."
. Scripts/packages.sh
# shellcheck disable=SC2086
sightline_install_packages $SIGHTLINE_BUILD_PACKAGES $SIGHTLINE_TEST_PACKAGES
swift build --build-tests
swift test --skip-build "$@"

#!/usr/bin/env bash
# Installs what the tests need, builds, and runs every test. No Python is needed:
# the parity fixtures are committed (Tests/Fixtures/README.md says how they were made).
set -euo pipefail
cd "$(dirname "$0")/.."
. Scripts/packages.sh
# shellcheck disable=SC2086
sightline_install_packages $SIGHTLINE_BUILD_PACKAGES $SIGHTLINE_TEST_PACKAGES
swift build --build-tests
# At most six tests at a time: run all at once, the suite's dozens of daemons and pipelines
# starved each other on two cores (with one of them busy, as CI runs) until timing checks
# failed; six finished faster (181 s against 207 s) with none failing.
swift test --skip-build --experimental-maximum-parallelization-width "${SIGHTLINE_TEST_WIDTH:-6}" "$@"

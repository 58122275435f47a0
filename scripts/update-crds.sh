#!/usr/bin/env bash
# Regenerate assets/crds/ from the CRD types in src/domain (the test
# `crds_match_the_shipped_assets` fails until this is run after a change).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet
./target/debug/swarmdeck crds | awk '
  /^---$/ { n++; file = (n == 1) ? "assets/crds/tasks.aliecs.alice.cern.yaml" : "assets/crds/swarms.k8slab.info.yaml"; printf "" > file }
  { print >> file }'

#!/bin/sh
# Coverage-guided fuzzing of every decoder of outside input, MINUTES (default 10) each:
#   sh fuzz/run.sh [MINUTES]
# Needs `cargo install cargo-fuzz`. The toolchain is stable: `-s none` (no sanitizer) and
# RUSTC_BOOTSTRAP=1 let cargo-fuzz's flags through. Crashes land in fuzz/artifacts/TARGET/.
set -u
minutes=${1:-10}
cd "$(dirname "$0")"
failed=0
for target in event_record import_line canonical_json rule_set token_header; do
    echo "== $target: $minutes min"
    RUSTC_BOOTSTRAP=1 cargo fuzz run -s none "$target" -- \
        -max_total_time=$((minutes * 60)) -print_final_stats=1 || failed=1
done
exit $failed

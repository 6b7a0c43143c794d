#!/bin/sh
# Runs fuzz targets one after the other, SECONDS each (default 150), logging to fuzz/logs/TARGET.log and appending
# one summary line per run to fuzz/logs/summary.txt. Needs cargo-fuzz and a nightly toolchain (or
# RUSTC_BOOTSTRAP=1 with stable). Usage: fuzz/run.sh [SECONDS] [TARGET...]
# FLAGS (default `-O -a -s none`): optimised, with debug assertions and overflow checks, without AddressSanitizer
# (the library has no unsafe code, and ASan halves the speed); `FLAGS=-O` is cargo-fuzz's default with ASan.
set -u
cd "$(dirname "$0")"
secs=${1:-150}
[ $# -gt 0 ] && shift
targets=${*:-"postfix exim sendmail pmta kumomta sending_log campaign_csv reply classify rule_file load_logs"}
mkdir -p logs
[ -d corpus ] || ./seed.sh
for t in $targets; do
    case $t in reply | classify) len=4096 ;; *) len=32768 ;; esac
    start=$(date +%s)
    # shellcheck disable=SC2086
    cargo +nightly fuzz run ${FLAGS:--O -a -s none} "$t" "corpus/$t" -- -max_total_time="$secs" -max_len="$len" -rss_limit_mb=2048 \
        -timeout=10 -print_final_stats=1 > "logs/$t.log" 2>&1
    rc=$?
    end=$(date +%s)
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$' | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "logs/$t.log" | tail -1)
    echo "$t (${FLAGS:--O -a -s none}): exit $rc, $((end - start)) s, ${execs:-?} execs, ${cov:-?}, $(ls "artifacts/$t" 2>/dev/null | wc -l) artifacts" \
        | tee -a logs/summary.txt
done

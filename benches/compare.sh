#!/usr/bin/env bash
# Times `bounces` against the usual tools on one generated data set, in one run:
#
#   bounces report / deactivations   on the Postfix maillog (with sends, campaigns, contacts)
#   pflogsumm                        on the same maillog
#   rg -c 'status=' (grep -c)        on the same maillog: the cost of just reading the file
#   bounces classify --text          on a file of N server responses drawn from the data
#   Sisimai->match                   on the same responses (a sample when all N would take too long)
#
# Each command runs under /usr/bin/time -v (peak RSS) with its output to /dev/null, after the file cache is
# warmed. It prints a Markdown table (wall s, MB/s, lines/s, peak RSS MB) and the ratios, and writes them to
# DIR/results.md. See README.md, "Benchmark".
#
# Usage: benches/compare.sh [--contacts N] [--campaigns C] [--out DIR] [--responses N] [--runs R]
#                           [--sisimai-budget S] [--skip-install]
set -euo pipefail
export LC_ALL=C # a decimal point in $EPOCHREALTIME and awk

contacts=200000
campaigns=12
out=target/bench
responses=1000000
runs=1
sisimai_budget=120
skip_install=0

usage() {
    sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
    cat <<'EOF'

Options:
  --contacts N        contacts in the generated history (default 200000: a maillog of about 4.8 GB)
  --campaigns C       weekly campaigns (default 12)
  --out DIR           where the data, the responses file and results.md go (default target/bench)
  --responses N       server responses for classify --text and Sisimai (default 1000000)
  --runs R            run each command R times and keep the fastest (default 1)
  --sisimai-budget S  when Sisimai's projected time for all N responses exceeds S seconds, time it on a
                      sample of 20000 responses only and compare per response (default 120)
  --skip-install      do not apt-get install missing tools (rows whose tool is missing are left out)
EOF
}

die() {
    echo "compare.sh: $*" >&2
    exit 1
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --contacts) contacts=${2:?--contacts needs a number}; shift 2 ;;
        --campaigns) campaigns=${2:?--campaigns needs a number}; shift 2 ;;
        --out) out=${2:?--out needs a directory}; shift 2 ;;
        --responses) responses=${2:?--responses needs a number}; shift 2 ;;
        --runs) runs=${2:?--runs needs a number}; shift 2 ;;
        --sisimai-budget) sisimai_budget=${2:?--sisimai-budget needs seconds}; shift 2 ;;
        --skip-install) skip_install=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument: $1 (--help lists the options)" ;;
    esac
done
for n in "$contacts" "$campaigns" "$responses" "$runs" "$sisimai_budget"; do
    [[ $n =~ ^[0-9]+$ && $n -gt 0 ]] || die "not a positive whole number: $n"
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
gen=../shared/bench/gen.py
[[ -f $gen ]] || die "the generator $root/$gen is not here (it lives in ../shared/bench/ beside the repository)"
command -v python3 >/dev/null || die "python3 is needed to run $gen"
mkdir -p "$out"
out=$(cd "$out" && pwd)

log() { echo "== $*" >&2; }

# --- Tools ------------------------------------------------------------------------------------------------

have_sisimai() { perl -MSisimai -e 1 2>/dev/null; }

missing_packages() {
    local p=()
    command -v pflogsumm >/dev/null || p+=(pflogsumm)
    have_sisimai || p+=(libsisimai-perl)
    command -v rg >/dev/null || p+=(ripgrep)
    [[ -x /usr/bin/time ]] || p+=(time)
    echo "${p[@]}"
}

need=$(missing_packages)
if [[ -n $need && $skip_install -eq 0 ]]; then
    log "installing: $need"
    command -v apt-get >/dev/null || die "apt-get is not here: install $need by hand, or pass --skip-install"
    # shellcheck disable=SC2086 # a list of package names
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need >"$out/apt.log" 2>&1; then
        log "apt-get install failed; apt-get update, then again"
        apt-get update -q >>"$out/apt.log" 2>&1 || true
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need >>"$out/apt.log" 2>&1 ||
            die "apt-get install $need failed (see $out/apt.log)"
    fi
    need=$(missing_packages)
fi
[[ -x /usr/bin/time ]] || die "/usr/bin/time (Debian package time) is needed for peak memory"
[[ -z $need ]] || log "missing, their rows are left out: $need"

# --- Build ------------------------------------------------------------------------------------------------

log "cargo build --release"
cargo build --release --quiet || die "cargo build --release failed"
bounces=$root/target/release/bounces

# --- Data -------------------------------------------------------------------------------------------------

maillog=$out/maillog
stamp=$out/.bench-stamp
want_stamp="gen.py $(sha256sum "$gen" | cut -c1-16) contacts=$contacts campaigns=$campaigns seed=1"
if [[ -f $stamp && -f $maillog && "$(cat "$stamp")" == "$want_stamp" ]]; then
    log "reusing the data in $out ($want_stamp)"
else
    # About 2.2 kB of files per message (gen.py's README): refuse early rather than fill the disk.
    need_mb=$((contacts * campaigns * 22 / 10000 + 100))
    free_mb=$(df -Pm "$out" | awk 'NR == 2 { print $4 }')
    ((free_mb >= need_mb)) || die "gen.py needs about $need_mb MB in $out; $free_mb MB are free"
    log "generating: gen.py --contacts $contacts --campaigns $campaigns --out $out"
    rm -f "$stamp"
    python3 "$gen" --contacts "$contacts" --campaigns "$campaigns" --out "$out" 2>"$out/gen.log" ||
        die "gen.py failed: $(tail -5 "$out/gen.log")"
    echo "$want_stamp" >"$stamp"
fi
for f in maillog sends.csv campaigns.csv contacts.csv sending-log.csv expected_campaigns.csv; do
    [[ -f $out/$f ]] || die "$out/$f is missing: remove $stamp and run again"
done
# The maillog's timestamps have no year: its first line is in the first campaign's year.
year=$(python3 -c 'import csv,sys; print(next(csv.DictReader(open(sys.argv[1])))["sent_at"][:4])' \
    "$out/campaigns.csv")

# N responses, one per line, deterministic: the `log` column of the sending log and the replies inside
# `status=... (...)` of the maillog, alternately, cycled to N lines.
resp=$out/responses-$responses.txt
resp_stamp="$want_stamp responses=$responses"
if [[ -f $resp && -f $resp.stamp && "$(cat "$resp.stamp")" == "$resp_stamp" ]]; then
    log "reusing $resp"
else
    log "writing $responses responses to $resp"
    python3 - "$out/sending-log.csv" "$maillog" "$responses" "$resp" <<'EOF'
import csv, re, sys
from itertools import islice
sending_log, maillog, n, dest = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
with open(sending_log, newline="", encoding="utf-8") as f:
    a = [r["log"] for r in islice(csv.DictReader(f), n)]
status = re.compile(r" status=[a-z]+ \((.*)\)$")
b = []
with open(maillog, encoding="utf-8", errors="replace") as f:
    for line in f:
        m = status.search(line)
        if m:
            b.append(m.group(1))
            if len(b) >= n:
                break
mixed = [x for pair in zip(a, b) for x in pair] + a[len(b):] + b[len(a):]
mixed = [x.replace("\n", " ") for x in mixed if x.strip()]
if not mixed:
    sys.exit("no responses found in the data")
with open(dest, "w", encoding="utf-8") as f:
    for i in range(n):
        f.write(mixed[i % len(mixed)] + "\n")
EOF
    echo "$resp_stamp" >"$resp.stamp"
fi
sample_n=$((responses < 20000 ? responses : 20000))
sample=$out/responses-sample-$sample_n.txt
head -n "$sample_n" "$resp" >"$sample"

# --- Timing -----------------------------------------------------------------------------------------------

mkdir -p "$out/time"
rows=()     # "label|input|bytes|lines|wall|rss_kb"
declare -A wall_of

bytes_of() { stat -c %s "$1"; }
lines_of() { wc -l <"$1" | tr -d ' '; }
warm() { cat "$@" >/dev/null; }

# timed LABEL INPUT STDOUT -- COMMAND...: the fastest of $runs runs; wall clock from the shell's
# microsecond clock around /usr/bin/time -v, peak RSS from its "Maximum resident set size".
timed() {
    local label=$1 input=$2 dest=$3
    shift 4
    local best="" cpu="" rss=0 i t0 t1 w c r tf="$out/time/$label.txt"
    warm "$input"
    for ((i = 0; i < runs; i++)); do
        t0=$EPOCHREALTIME
        if ! /usr/bin/time -v -o "$tf" "$@" >"$dest" 2>"$out/time/$label.stderr"; then
            die "$label failed: $* (see $tf and $out/time/$label.stderr)"
        fi
        t1=$EPOCHREALTIME
        w=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
        # User and system CPU time: on two cores a parallel program's wall time hides how much work it did.
        c=$(awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.2f", s }' "$tf")
        r=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$tf")
        if [[ -z $best ]] || awk -v a="$w" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$w cpu=$c; fi
        if ((r > rss)); then rss=$r; fi
    done
    wall_of[$label]=$best
    rows+=("$label|$input|$(bytes_of "$input")|$(lines_of "$input")|$best|$cpu|$rss")
    log "$label: $best s ($cpu s of CPU), peak RSS $((rss / 1024)) MB"
}

campaign_data=(--sends "$out/sends.csv" --campaigns "$out/campaigns.csv" --contacts "$out/contacts.csv")
log "timing on $maillog ($(bytes_of "$maillog") bytes, $(lines_of "$maillog") lines), $runs run(s) each"

timed bounces-report "$maillog" /dev/null -- \
    "$bounces" report "$maillog" "${campaign_data[@]}" --year "$year" --format csv
timed bounces-deactivations "$maillog" /dev/null -- \
    "$bounces" deactivations "$maillog" "${campaign_data[@]}" --year "$year" --format csv
if command -v pflogsumm >/dev/null; then
    # Its summary is a few kB: kept (not /dev/null) to show below that it parsed the file.
    timed pflogsumm "$maillog" "$out/pflogsumm.out" -- pflogsumm "$maillog"
fi
if command -v rg >/dev/null; then
    timed rg-count "$maillog" /dev/null -- rg -c 'status=' "$maillog"
    counter=rg-count
else
    timed grep-count "$maillog" /dev/null -- grep -c 'status=' "$maillog"
    counter=grep-count
fi

timed bounces-classify-text "$resp" /dev/null -- "$bounces" classify --text "$resp" --format csv
sisimai_label=""
if have_sisimai; then
    # shellcheck disable=SC2016 # Perl code
    sisimai=(perl -MSisimai -ne 'chomp; my $r = Sisimai->match($_); print defined $r ? $r : "", "\n"')
    if ((sample_n < responses)); then
        timed sisimai-match-sample "$sample" /dev/null -- "${sisimai[@]}" "$sample"
        sisimai_label="sisimai-match-sample"
        projected=$(awk -v w="${wall_of[sisimai-match-sample]}" -v n="$responses" -v s="$sample_n" \
            'BEGIN { printf "%.0f", w * n / s }')
        if ((projected <= sisimai_budget)); then
            timed sisimai-match "$resp" /dev/null -- "${sisimai[@]}" "$resp"
            sisimai_label="sisimai-match"
        else
            log "Sisimai on all $responses responses would take about $projected s (> --sisimai-budget" \
                "$sisimai_budget): timed on the first $sample_n only, compared per response"
        fi
    else
        timed sisimai-match "$resp" /dev/null -- "${sisimai[@]}" "$resp"
        sisimai_label="sisimai-match"
    fi
fi

# --- Results ----------------------------------------------------------------------------------------------

ratio() { # ratio A B: wall of A / wall of B
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "n/a" }'
}
per_response() { # per_response WALL LINES: microseconds per response
    awk -v w="$1" -v n="$2" 'BEGIN { printf "%.2f", w * 1e6 / n }'
}

{
    echo "# bounces benchmark"
    echo
    echo "Data: gen.py --contacts $contacts --campaigns $campaigns (seed 1), maillog $(bytes_of "$maillog") bytes," \
        "$(lines_of "$maillog") lines; $responses responses. $(nproc) cores; fastest of $runs run(s);" \
        "file cache warm; output to /dev/null. MB = 10^6 bytes of the input named."
    echo
    echo "| command | input | wall s | CPU s | MB/s | lines/s | peak RSS MB |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    for row in "${rows[@]}"; do
        IFS='|' read -r label input bytes lines wall cpu rss <<<"$row"
        awk -v l="$label" -v i="$(basename "$input")" -v b="$bytes" -v n="$lines" -v w="$wall" -v c="$cpu" \
            -v r="$rss" 'BEGIN { if (w <= 0) w = 0.001
                printf "| %s | %s | %.3f | %.2f | %.1f | %.0f | %.1f |\n", l, i, w, c, b / w / 1e6, n / w, r / 1024 }'
    done
    echo
    echo "Ratios (wall time; more than 1 means the first is slower; CPU s is user plus system time of the run kept):"
    echo
    if [[ -n ${wall_of[pflogsumm]:-} ]]; then
        echo "- pflogsumm / bounces-report: $(ratio "${wall_of[pflogsumm]}" "${wall_of[bounces-report]}")"
    fi
    echo "- bounces-report / $counter: $(ratio "${wall_of[bounces-report]}" "${wall_of[$counter]}")"
    if [[ -n $sisimai_label ]]; then
        s_lines=$sample_n
        [[ $sisimai_label == sisimai-match ]] && s_lines=$responses
        s_us=$(per_response "${wall_of[$sisimai_label]}" "$s_lines")
        b_us=$(per_response "${wall_of[bounces-classify-text]}" "$responses")
        note=""
        [[ $sisimai_label == sisimai-match-sample ]] &&
            note=" (Sisimai timed on the first $sample_n responses only)"
        echo "- sisimai / bounces-classify, per response: $(ratio "$s_us" "$b_us")" \
            "($s_us µs against $b_us µs a response)$note"
    fi
    if [[ -s $out/pflogsumm.out ]]; then
        echo
        echo "pflogsumm parsed the maillog (its Grand Totals; gen.py's truth in brackets):"
        echo
        python3 - "$out/pflogsumm.out" "$out/expected_campaigns.csv" <<'EOF'
import csv, re, sys
text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
got = {k: re.search(r"^\s*(\d+)\s+" + k + r"\b(.*)$", text, re.M) for k in ("received", "delivered", "deferred", "bounced")}
rows = list(csv.DictReader(open(sys.argv[2])))
total = {k: sum(int(r[k]) for r in rows) for k in ("sent", "delivered", "soft_bounces", "hard_bounces")}
bounces = total["soft_bounces"] + total["hard_bounces"]
truth = {
    "received": f"{total['sent']} messages sent",
    "delivered": f"{total['delivered']} delivered + {bounces} bounce notifications",
    "deferred": "messages with a deferral",
    "bounced": f"status=bounced lines; {total['hard_bounces']} hard + {total['soft_bounces']} soft bounces in all,"
               " the expired ones being status=expired",
}
for k, m in got.items():
    shown = f"{m.group(1)} {k}{m.group(2).rstrip()}" if m else f"(no '{k}' line)"
    print(f"    {shown:40} [{truth[k]}]")
EOF
    fi
} >"$out/results.md"

echo
cat "$out/results.md"
echo
echo "(written to $out/results.md; /usr/bin/time -v output in $out/time/)"

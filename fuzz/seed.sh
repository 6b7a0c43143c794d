#!/bin/sh
# Builds the seed corpora in fuzz/corpus/TARGET (not committed) from samples/ and tests/fixtures, plus the
# committed seeds and regression inputs in fuzz/seeds/TARGET. Run from the repository root or from fuzz/.
set -eu
cd "$(dirname "$0")/.."
F=tests/fixtures
C=fuzz/corpus

# chunks TARGET FILE LINES: FILE cut into pieces of LINES lines, each a seed.
chunks() {
    mkdir -p "$C/$1"
    [ -f "$2" ] || return 0
    base=$(basename "$2")
    split -l "$3" -d -a 4 "$2" "$C/$1/$base."
}
# each_line TARGET FILE MAX: the first MAX lines of FILE, one seed each.
each_line() {
    mkdir -p "$C/$1"
    n=0
    head -n "$3" "$2" | while IFS= read -r line; do
        n=$((n + 1))
        printf '%s' "$line" > "$C/$1/$(basename "$2").$n"
    done
}
# with_header TARGET FILE LINES: FILE's header row, then pieces of LINES rows each.
with_header() {
    mkdir -p "$C/$1"
    base=$(basename "$2")
    head -n 1 "$2" > "$C/$1/.header"
    tail -n +2 "$2" | split -l "$3" -d -a 4 - "$C/$1/.$base."
    for p in "$C/$1/.$base."*; do
        cat "$C/$1/.header" "$p" > "$C/$1/$base.$(basename "$p" | sed 's/.*\.//')"
        rm "$p"
    done
    rm "$C/$1/.header"
}

rm -rf "$C"
chunks postfix samples/maillog 8
for f in $F/corpus/postfix/*.log; do chunks postfix "$f" 8; done
chunks exim $F/corpus/exim/crowdsec-hub-exim-logs.log 20
chunks sendmail $F/formats/sendmail.log 20
with_header pmta $F/formats/pmta-acct.csv 10
with_header pmta $F/corpus/pmta/tuck1s-sparkypmtatracking-acct_etl-example.csv 10
chunks kumomta $F/formats/kumomta.jsonl 5
chunks kumomta $F/corpus/kumomta/kumomta-docs-log-record-examples.jsonl 3
with_header sending_log samples/sending-log.csv 40
mkdir -p $C/campaign_csv
# The first byte picks the loader: 0 sends, 1 campaigns, 2 contacts.
{ printf '\000'; head -n 30 samples/sends.csv; } > $C/campaign_csv/sends
{ printf '\001'; cat samples/campaigns.csv; } > $C/campaign_csv/campaigns
{ printf '\002'; cat samples/contacts.csv; } > $C/campaign_csv/contacts
each_line reply $F/responses.csv 400
each_line classify $F/responses.csv 400
each_line classify $F/corpus/sisimai/public.csv 200
mkdir -p $C/rule_file
{ printf '\000'; cat samples/rules.toml; } > $C/rule_file/rules.toml
{ printf '\001'; cat samples/rules.csv; } > $C/rule_file/rules.csv
{ printf '\000'; cat src/domain/rules.toml; } > $C/rule_file/builtin.toml
mkdir -p $C/load_logs
for t in postfix exim sendmail pmta kumomta sending_log; do
    ls $C/$t | head -n 8 | while read -r s; do cp "$C/$t/$s" "$C/load_logs/$t.$s"; done
done
head -c 3000 samples/maillog | gzip -c > $C/load_logs/maillog.gz
# Committed seeds and regression inputs.
for d in fuzz/seeds/*/ fuzz/regressions/*/; do
    [ -d "$d" ] || continue
    t=$(basename "$d")
    mkdir -p "$C/$t"
    cp "$d"* "$C/$t/" 2>/dev/null || true
done
for d in $C/*/; do echo "$(basename "$d"): $(ls "$d" | wc -l) seeds"; done

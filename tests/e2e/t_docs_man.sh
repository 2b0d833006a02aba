#!/usr/bin/env bash
# The man pages in doc/: lint-clean under mandoc, each renders with the
# sections a reader looks for; sluice(8) documents exactly the options
# `sluice -h` prints, the signals sluice takes, and the exit codes the
# binary really returns; every configuration example in sluice.conf(5)
# passes `sluice -t`.  (tests/unit/test_config_docs.c checks that every
# directive has its entry in sluice.conf(5).)
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.."
export LC_ALL=C.UTF-8
command -v mandoc >/dev/null || skip "mandoc missing (make deps-test installs it)"
MAN8=doc/sluice.8
MAN5=doc/sluice.conf.5
[ -f "$MAN8" ] || fail "$MAN8 missing"
[ -f "$MAN5" ] || fail "$MAN5 missing"

# --- lint and rendering ------------------------------------------------------------

lint=$(mandoc -T lint -W warning doc/*.[1-9] 2>&1)
rc=$?
[ "$rc" = 0 ] && [ -z "$lint" ] || fail "mandoc -T lint -W warning (exit $rc): $lint"
ok "mandoc -T lint -W warning: clean ($(ls doc/*.[1-9] | tr '\n' ' '))"

# render FILE: the page as text, without the overstrikes of bold and underline
render() { mandoc -T utf8 "$1" | sed 's/.\x08//g'; }
render "$MAN8" >"$T/sluice.8.txt" || fail "mandoc cannot render $MAN8"
render "$MAN5" >"$T/sluice.conf.5.txt" || fail "mandoc cannot render $MAN5"
for s in NAME SYNOPSIS DESCRIPTION SIGNALS "SYSTEMD INTEGRATION" ENVIRONMENT FILES "EXIT STATUS" EXAMPLES "SEE ALSO"; do
	grep -qx "$s" "$T/sluice.8.txt" || fail "sluice(8) has no $s section"
done
for s in NAME DESCRIPTION DIRECTIVES FILES EXAMPLES "SEE ALSO"; do
	grep -qx "$s" "$T/sluice.conf.5.txt" || fail "sluice.conf(5) has no $s section"
done
[ "$(wc -l <"$T/sluice.conf.5.txt")" -gt 300 ] || fail "sluice.conf(5) renders to only $(wc -l <"$T/sluice.conf.5.txt") lines"
ok "both pages render (mandoc -T utf8) with their sections"
if command -v man >/dev/null; then
	MANPAGER=cat man -l "$MAN8" 2>"$T/man.err" | grep -q "SYNOPSIS" || fail "man -l $MAN8: $(cat "$T/man.err")"
	MANPAGER=cat man -l "$MAN5" 2>"$T/man.err" | grep -q "DIRECTIVES" || fail "man -l $MAN5: $(cat "$T/man.err")"
	ok "man -l renders both pages too"
fi

# --- sluice(8) and the binary --------------------------------------------------------

"$SLUICE" -h >"$T/usage" || fail "sluice -h exited $?"
letters=$(sed -n 's/^  -\([A-Za-z]\) .*/\1/p' "$T/usage" | sort)
[ "$(echo "$letters" | wc -w)" -ge 8 ] || fail "could not read the options from sluice -h: $(cat "$T/usage")"
documented=$(sed -n 's/^\.It Fl \([A-Za-z]\)\( .*\)\{0,1\}$/\1/p' "$MAN8" | sort)
synopsis=$(sed -n '/^SYNOPSIS$/,/^DESCRIPTION$/p' "$T/sluice.8.txt")
for l in $letters; do
	echo "$documented" | grep -qx "$l" || fail "sluice -h prints -$l, sluice(8) has no '.It Fl $l' entry"
	echo "$synopsis" | grep -q -- "-[A-Za-z]*$l" || fail "sluice(8)'s SYNOPSIS lacks -$l"
done
for l in $documented; do
	echo "$letters" | grep -qx "$l" || fail "sluice(8) documents -$l, which sluice -h does not print"
done
ok "sluice(8) documents exactly the options of sluice -h: $(echo $letters | tr -d ' ')"

for sig in SIGHUP SIGTERM SIGINT SIGUSR1; do
	grep -Eq "^\.It Dv (.* )?$sig( |$)" "$MAN8" || fail "sluice(8)'s SIGNALS has no entry for $sig"
done
for v in READY=1 RELOADING=1 STOPPING=1 STATUS= WATCHDOG=1; do
	grep -q "^\.It Cm $v\$" "$MAN8" || fail "sluice(8) does not document sd_notify $v"
done
ok "sluice(8) documents SIGHUP, SIGTERM, SIGINT, SIGUSR1 and the sd_notify messages"

# EXIT STATUS lists 0, 1 and 2, and the binary returns them when the page
# says it does
for code in 0 1 2; do
	sed -n '/^\.Sh EXIT STATUS/,/^\.Sh /p' "$MAN8" | grep -qx "\.It $code" || fail "sluice(8)'s EXIT STATUS lacks $code"
done
"$SLUICE" -t -c systemd/sluice.conf >/dev/null 2>&1
expect_eq "$?" 0 "exit status of sluice -t on a valid config"
echo "no_such_directive 1" >"$T/bad.conf"
"$SLUICE" -t -c "$T/bad.conf" >/dev/null 2>&1
expect_eq "$?" 1 "exit status of sluice -t on a bad config"
"$SLUICE" -Z >/dev/null 2>&1
expect_eq "$?" 2 "exit status of sluice with an unknown option"
"$SLUICE" -w 0 >/dev/null 2>&1
expect_eq "$?" 2 "exit status of sluice -w 0"
"$SLUICE" -V >/dev/null 2>&1
expect_eq "$?" 0 "exit status of sluice -V"
ok "EXIT STATUS 0, 1, 2 documented and returned by the binary"

# --- sluice.conf(5)'s examples are real configs ----------------------------------------

# Every literal block of sluice.conf(5) is a configuration; the files they
# name are made here (an htpasswd file, a domain list).
command -v htpasswd >/dev/null || skip "htpasswd missing (apache2-utils, make deps-test)"
htpasswd -B -b -c "$T/users" alice secret >/dev/null 2>&1 || fail "htpasswd"
printf 'ads.example.com\n.tracker.example.net\n' >"$T/blocklist.txt"
awk -v dir="$T" '
	/^\.Bd -literal/ { n++; f = sprintf("%s/example.%02d.conf", dir, n); printf "" >f; inb = 1; next }
	/^\.Ed/ { inb = 0; close(f); next }
	inb { print >f }' "$MAN5"
examples=("$T"/example.*.conf)
[ "${#examples[@]}" -ge 10 ] || fail "only ${#examples[@]} example blocks found in $MAN5"
for f in "${examples[@]}"; do
	# mdoc escapes back to text; the named files to the ones made above
	sed -i -e 's/\\e/\\/g; s/\\(dq/"/g; s/\\&//g' -e "s|/etc/sluice/users|$T/users|; s|/etc/sluice/blocklist.txt|$T/blocklist.txt|" "$f"
	out=$("$SLUICE" -t -c "$f" 2>&1) || fail "an example of $MAN5 does not load: $out
$(cat "$f")"
done
ok "all ${#examples[@]} configuration examples in sluice.conf(5) pass sluice -t"

# The built-in rules sluice.conf(5) prints are the ones src/acl.c has.
rules=$(sed -n '/^const char policy_default_text\[\] =/,/;$/p' src/acl.c | sed -n 's/^[[:space:]]*"\(.*\)\\n";\{0,1\}$/\1/p')
[ "$(echo "$rules" | wc -l)" -ge 5 ] || fail "built-in rules not found in src/acl.c"
while IFS= read -r line; do
	grep -qxF "$line" "$MAN5" || fail "sluice.conf(5) lacks the built-in rule line: $line"
done <<<"$rules"
ok "sluice.conf(5) shows the built-in access rules as src/acl.c has them"

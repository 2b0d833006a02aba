#!/usr/bin/env bash
# src/ARCHITECTURE.md's module table names every file in src/, and names no
# file that is not there: the map a newcomer reads matches the code.
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.."
doc=src/ARCHITECTURE.md
[ -f "$doc" ] || fail "$doc missing"
# rows of the module table: | `file` | what it owns |
listed=$(sed -n 's/^| `\([^`]*\)` | .*/\1/p' "$doc" | sort)
present=$(cd src && ls | sort)
[ -n "$listed" ] || fail "no module table in $doc"
missing=$(comm -13 <(echo "$listed") <(echo "$present"))
stale=$(comm -23 <(echo "$listed") <(echo "$present"))
[ -z "$missing" ] || fail "in src/ but not in $doc: $missing"
[ -z "$stale" ] || fail "in $doc but not in src/: $stale"
ok "$doc lists the $(echo "$present" | wc -l) files of src/"
# every source comment that points at a design document points at this one
bad=$(grep -rln 'DESIGN\.md' src include || true)
[ -z "$bad" ] || fail "source comments point at DESIGN.md (not in the repository): $bad"
ok "no source comment points outside the repository"
# systemd/sluice.conf writes out the built-in access rules as they are
rules=$(sed -n '/^const char policy_default_text\[\] =/,/;$/p' src/acl.c | sed -n 's/^[[:space:]]*"\(.*\)\\n";\{0,1\}$/\1/p')
[ "$(echo "$rules" | wc -l)" -ge 5 ] || fail "built-in rules not found in src/acl.c"
while IFS= read -r line; do
	grep -qxF "$line" systemd/sluice.conf || fail "systemd/sluice.conf lacks the built-in rule line: $line"
done <<<"$rules"
ok "systemd/sluice.conf shows the built-in access rules as src/acl.c has them"

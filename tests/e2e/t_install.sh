#!/usr/bin/env bash
# make install, staged under DESTDIR: every file lands where Debian keeps it
# (and nothing else), the unit starts the binary where install put it, the
# installed binary runs and accepts the installed config, the installed man
# pages render and are what the unit's Documentation= names; a second
# install keeps a config and a logrotate file the admin changed (the
# shipped ones go beside them as .dist); PREFIX moves the binary and the
# unit follows; make uninstall removes all but the admin's files.
#
# It installs the binary the e2e run was given ($BUILD/sluice, already
# built): make's -o keeps it from being rebuilt, whatever changed since.
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.."
[ -x "$BUILD/sluice" ] || fail "$BUILD/sluice missing: build it first"

# inst DESTDIR [VARIABLES...]: make install into DESTDIR, output in $T/make.out
inst() {
	local d=$1
	shift
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory -o "$BUILD/sluice" install \
		BUILD="$BUILD" DESTDIR="$d" "$@" >"$T/make.out" 2>&1 ||
		fail "make install DESTDIR=$d $*: $(cat "$T/make.out")"
}
# tree DIR: the files and symlinks under DIR, relative, sorted
tree() { (cd "$1" && find . \( -type f -o -type l \) | sed 's|^\./|/|' | sort); }
# same FILE WANT: FILE is there with WANT's content
same() { [ -f "$1" ] || fail "not installed: $1"; cmp -s "$1" "$2" || fail "$1 differs from $2"; }
mode_is() { expect_eq "$(stat -c %a "$1")" "$2" "mode of $1"; }

# --- a fresh install ----------------------------------------------------------------

D=$T/root
inst "$D"
cat >"$T/want" <<'EOF'
/etc/logrotate.d/sluice
/etc/sluice/sluice.conf
/lib/systemd/system/sluice.service
/lib/systemd/system/sluice.socket
/usr/sbin/sluice
/usr/share/doc/sluice/README.md
/usr/share/man/man5/sluice.conf.5.gz
/usr/share/man/man8/sluice.8.gz
EOF
tree "$D" >"$T/got"
diff -u "$T/want" "$T/got" >"$T/diff" || fail "installed files are not the expected ones: $(cat "$T/diff")"
same "$D/usr/sbin/sluice" "$BUILD/sluice"
same "$D/lib/systemd/system/sluice.service" systemd/sluice.service
same "$D/lib/systemd/system/sluice.socket" systemd/sluice.socket
same "$D/etc/sluice/sluice.conf" systemd/sluice.conf
same "$D/etc/logrotate.d/sluice" systemd/sluice.logrotate
same "$D/usr/share/doc/sluice/README.md" README.md
zcat "$D/usr/share/man/man8/sluice.8.gz" | cmp -s - doc/sluice.8 || fail "installed sluice.8.gz is not doc/sluice.8"
zcat "$D/usr/share/man/man5/sluice.conf.5.gz" | cmp -s - doc/sluice.conf.5 || fail "installed sluice.conf.5.gz is not doc/sluice.conf.5"
mode_is "$D/usr/sbin/sluice" 755
for f in etc/sluice/sluice.conf etc/logrotate.d/sluice lib/systemd/system/sluice.service \
	lib/systemd/system/sluice.socket usr/share/man/man8/sluice.8.gz usr/share/man/man5/sluice.conf.5.gz; do
	mode_is "$D/$f" 644
done
ok "make install DESTDIR: the $(wc -l <"$T/want") files, in Debian's places, with the shipped contents"

# exec_paths UNIT: the programs the unit runs (Exec*= lines, first word)
exec_paths() { sed -n 's/^Exec[A-Za-z]*=[-@:+!]*\([^ ]*\).*/\1/p' "$1" | sort -u; }
sluice_paths=$(exec_paths "$D/lib/systemd/system/sluice.service" | grep '/sluice$')
expect_eq "$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$D/lib/systemd/system/sluice.service")" /usr/sbin/sluice \
	"the unit's ExecStart with the default PREFIX"
for p in $sluice_paths; do
	[ -x "$D$p" ] || fail "the unit runs $p, which install did not put there"
done
"$D/usr/sbin/sluice" -V | grep -q '^sluice ' || fail "the installed binary does not run"
out=$("$D/usr/sbin/sluice" -t -c "$D/etc/sluice/sluice.conf" 2>&1) || fail "installed config refused: $out"
ok "the unit runs /usr/sbin/sluice, which is there, runs, and accepts the installed config"

# --- the installed man pages ------------------------------------------------------------

# renders CMD... PATTERN: CMD's output, overstrikes removed, has a line
# that is PATTERN (a section heading)
renders() {
	local pat=${*: -1}
	"${@:1:$#-1}" 2>"$T/render.err" | sed 's/.\x08//g' | grep -qx "$pat" ||
		fail "${*:1:$#-1} does not render a $pat section: $(cat "$T/render.err")"
}
command -v mandoc >/dev/null || skip "mandoc missing (make deps-test installs it)"
command -v man >/dev/null || skip "man missing (man-db, make deps-test installs it)"
renders mandoc -T utf8 "$D/usr/share/man/man8/sluice.8.gz" SYNOPSIS
renders mandoc -T utf8 "$D/usr/share/man/man5/sluice.conf.5.gz" DIRECTIVES
export MANPAGER=cat MANWIDTH=80
renders man -l "$D/usr/share/man/man8/sluice.8.gz" SYNOPSIS
renders man -l "$D/usr/share/man/man5/sluice.conf.5.gz" DIRECTIVES
# each man: and file: link of the units' Documentation= resolves in the tree
for u in sluice.service sluice.socket; do
	for link in $(sed -n 's/^Documentation=//p' "$D/lib/systemd/system/$u"); do
		case $link in
		man:*) MANPATH=$D/usr/share/man man -w "${link#man:}" >/dev/null 2>&1 || fail "$u: Documentation=$link not installed";;
		file://*) [ -f "$D${link#file://}" ] || fail "$u: Documentation=$link not installed";;
		esac
	done
done
ok "the installed pages render (mandoc, man -l) and every Documentation= link of the units resolves"

# --- a second install keeps what the admin changed ---------------------------------------

echo "max_connections 500   # the admin's" >>"$D/etc/sluice/sluice.conf"
sed -i 's/rotate 14/rotate 30/' "$D/etc/logrotate.d/sluice"
cp "$D/etc/sluice/sluice.conf" "$T/conf.admin"
cp "$D/etc/logrotate.d/sluice" "$T/logrotate.admin"
inst "$D"
same "$D/etc/sluice/sluice.conf" "$T/conf.admin"
same "$D/etc/logrotate.d/sluice" "$T/logrotate.admin"
same "$D/etc/sluice/sluice.conf.dist" systemd/sluice.conf
same "$D/etc/logrotate.d/sluice.dist" systemd/sluice.logrotate
grep -q "kept $D/etc/sluice/sluice.conf" "$T/make.out" || fail "make install did not say it kept the config: $(cat "$T/make.out")"
same "$D/usr/sbin/sluice" "$BUILD/sluice"
# and once more: still kept, nothing else appears
inst "$D"
same "$D/etc/sluice/sluice.conf" "$T/conf.admin"
expect_eq "$(tree "$D" | wc -l)" "$(($(wc -l <"$T/want") + 2))" "files after three installs (the two .dist added)"
ok "reinstalling keeps the admin's sluice.conf and logrotate file, the shipped ones go to .dist, and says so"

# --- PREFIX ----------------------------------------------------------------------------

D2=$T/root-local
inst "$D2" PREFIX=/usr/local
[ -x "$D2/usr/local/sbin/sluice" ] || fail "PREFIX=/usr/local: no $D2/usr/local/sbin/sluice"
[ -f "$D2/usr/local/share/man/man8/sluice.8.gz" ] || fail "PREFIX=/usr/local: man page not under it"
[ -f "$D2/lib/systemd/system/sluice.service" ] || fail "PREFIX=/usr/local: no unit"
for p in $(exec_paths "$D2/lib/systemd/system/sluice.service" | grep '/sluice$'); do
	expect_eq "$p" /usr/local/sbin/sluice "the unit's sluice with PREFIX=/usr/local"
	[ -x "$D2$p" ] || fail "PREFIX=/usr/local: the unit runs $p, which is not installed"
done
grep -q '^Documentation=.*file:///usr/local/share/doc/sluice/README.md' "$D2/lib/systemd/system/sluice.service" ||
	fail "PREFIX=/usr/local: the unit's Documentation= does not follow"
ok "PREFIX=/usr/local: binary, pages and the unit's paths follow"

# --- uninstall ---------------------------------------------------------------------------

env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory uninstall BUILD="$BUILD" DESTDIR="$D" >"$T/make.out" 2>&1 ||
	fail "make uninstall: $(cat "$T/make.out")"
left=$(tree "$D" | tr '\n' ' ')
expect_eq "$left" "/etc/logrotate.d/sluice /etc/logrotate.d/sluice.dist /etc/sluice/sluice.conf /etc/sluice/sluice.conf.dist " \
	"files left by make uninstall"
ok "make uninstall removes everything but the files under /etc"

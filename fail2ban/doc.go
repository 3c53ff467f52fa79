// Package fail2ban loads a fail2ban configuration (jail.conf, jail.local,
// jail.d, filter.d) as it is and runs its filters, so that phalanx can run
// a user's fail2ban jails as its own sources and scenarios and share their
// bans with the alliance.
//
// It reads the INI dialect fail2ban uses (Python's ConfigParser with
// [INCLUDES] before/after, .local overlays, %(name)s and %(section/name)s
// interpolation, the known/ prefix, [Init] and [Definition], <tag>
// substitution between options), resolves every enabled jail (Load) with
// its filter (LoadFilter), and matches log lines (Matcher, Group) the way
// fail2ban's filter does: the date is found and cut out of the line first
// (datepattern, {^LN-BEG}, {DATE}, EPOCH, TAI64N and fail2ban's default
// formats), then prefregex and its <F-CONTENT>, then the failregex list
// with <HOST>, <ADDR>, <IP4>, <IP6>, <CIDR>, <SUBNET>, <DNS>, <F-…> groups,
// ignoreregex, maxlines buffers and multi-line failure ids (<F-MLFID>,
// <F-NOFAIL>, <F-MLFFORGET>, <F-MLFGAINED>).
//
// What it must not do: run anything fail2ban's configuration names
// (actions, ignorecommand), resolve a host name read from a log line (an
// attacker may control its DNS: a failure that gives only a name is
// reported with Result.Name set and no address, counted, never banned),
// or hang on a line (see the engine below). Settings it cannot honour are
// never dropped silently: Load returns them as Notices with file, line and
// reason, and a jail that cannot run is an error for that jail only. It
// holds no package-level state; the daemon decides what a jail's failures
// lead to (Jail.MaxRetry within Jail.FindTime bans Result.Key for
// Jail.BanTime, grown by Jail.Increment) — this package only reads and
// matches.
//
// To run a configuration: Load gives the enabled jails, the jails that
// cannot run (with file and line) and the notices; Setup.Streams groups
// the jails by the log they read; per stream, one Matcher per jail
// (NewMatcher(jail.Filter, MatchOptions{Location: jail.Location})) in a
// Group, fed line by line (Group.Line; Matcher.LineAt for journal entries,
// whose time is known). A Filter is immutable and may be shared; Matcher
// and Group hold a stream's state and are not safe for concurrent use.
//
// # Regular expressions
//
// fail2ban's filters are Python expressions. Each is translated once:
// when it uses only what RE2 offers it runs on Go's regexp (linear time,
// no budget needed); when it uses look-arounds, back-references,
// conditionals or atomic groups it runs on github.com/dlclark/regexp2,
// with a time budget per match (FilterOptions.Budget, DefaultBudget 10 ms;
// regexp2 checks deadlines on a 100 ms clock, so a runaway match stops
// within about budget + 100 ms) and its default backtracking-stack limit;
// a match stopped either way counts as no match and is counted
// (Counters.Timeouts). In front of every regexp2 expression runs an RE2
// "gate": the same expression with look-arounds dropped, back-references
// as .*, both branches of a conditional — it matches a superset, so where
// it fails the backtracking engine is not started at all (a pathological
// look-ahead pattern such as ^(?=a)(a+)+b never runs on regexp2 unless its
// gate matches). Python's \d, \w and \s are Unicode-aware and are written
// as Unicode classes for Go, so a user name in another script cannot slip
// past \w. Of Debian's 89 filters (default modes) 15 need regexp2: apache-auth,
// asterisk, courier-auth, exim, mongodb-auth, named-refused, openwebmail,
// recidive, roundcube-auth, selinux-ssh, sendmail-reject, slapd, sshd,
// stunnel, traefik-auth.
//
// In front of all of that is a literal prefilter (prefilter.go), one per
// Group (all the jails that watch one log). Each expression's required
// literals are found on its RE2 superset: at least 3 bytes, ASCII
// case-folded, runs of parts with few exact texts multiplied out
// ("[iI](?:llegal|nvalid) user " requires "illegal user " or "invalid
// user "), under (?i) cut at k and s (they also match the Kelvin sign and
// the long s). An expression without a literal gets a sequence instead: a
// run of single-character classes, Unicode included, starting with a few
// ASCII bytes (3proxy's "[+-]", four \d, a space), looked for with
// strings.IndexByte. Literals are cut where fail2ban removes the date (a
// filter's "[]LOGIN FAILED" is looked for as "]LOGIN FAILED": the log has
// "[2014-01-06 10:59:38]LOGIN FAILED") and at the newlines of multi-line
// buffers.
//
// The literals are found in one pass by 4-byte grams hashed into a bit set
// of 8 KB, looking only at every (M-3)-th position of the line: each
// literal of M bytes or more sets the bits of M-3 consecutive grams of its
// own, so one of them lies on a position the scan looks at (the skip of
// Wu and Manber's multi-pattern search); the loop reads two positions
// from one 8-byte load and calls nothing, collecting the positions whose
// bit is set. Such a position is mostly a gram of an ordinary word that a
// literal shares ("from", "ser ", "warn"), so before the literals
// anchored there are compared, a second check looks at 8 bytes: the gram
// with the 4 bytes after it (or before it) hashed into a second bit set
// that holds the same 8 bytes of each literal (folded alike); only
// anchors whose literal has neither are compared on the gram alone. The
// grams chosen avoid bytes and words common in ordinary lines. The few
// literals shorter than M are found by a rare byte they hold (the quote
// of `" 401`), the byte after it checked before the literal is compared.
// The Set chooses M (4 to 8) by an estimated cost, and since a prefregex
// and a failregex must both match, it checks only the side that is
// quicker to look for when the other would force short skips (proftpd's
// prefregex needs only "user"; each of its failregex a long literal).
// With Debian's 89 sample filters M is 6: a 110-byte line is looked at in
// 36 places (18 loads), plus one strings.IndexByte for the quote.
//
// A line then goes only to the filters that one of the literals found
// names (and to those that must see every line), and within a filter only
// to the failregex whose literal is there; the others do not look for the
// date or run an expression. A multi-line filter must see every line (its
// window holds the last maxlines), but while its window holds none of its
// literals it runs nothing: the Group parks it and keeps the last lines
// once for all parked filters, refilling a filter's window when a line
// with its literal comes; a parked filter is not even called for the
// lines it skips. Filters that cannot match never slow a line down; a
// line without any literal costs the scan alone.
//
// Grouping filters by the program tag of syslog's prefix (most filters
// name their daemon in __prefix_line) was considered and left out: the
// tag is optional in __prefix_line (journal lines have none), so it
// cannot dismiss a line exactly. The conformance test checks every sample
// line with and without the prefilter and fails on any difference;
// FuzzAnchors checks the scan against a plain search at every skip, and
// FuzzSequence the sequences against the expressions;
// FuzzPrefilterSound checks that, behind the prefilter of all Debian
// filters with a sample, each filter gives on any line what it gives
// running its expressions on every line (its seeds run in every go test;
// fuzzing it is slow, a few lines a second);
// TestGroupAgreesWithMatchers checks a Group (parking included) against a
// Matcher per filter.
//
// # Measurements
//
// On the 2-core VM this was written on, shared with other builds (load
// average 3–8; wall-clock numbers vary by up to ±50% between runs, CPU
// time less), with the 89 Debian filters that have a sample in
// fail2ban's corpus, old and new code run back to back:
//
//   - start-up: the 89 filters compiled in ~0.4 s, holding ~16 MB
//     (BenchmarkCompileAll); all 91 jails of Debian's jail.conf enabled at
//     once (Load, filters included) in ~0.35 s.
//   - all 89 filters as one Group over the corpus's 922 mixed lines (mail,
//     FTP, web, sshd, …): 20–24 µs CPU per line (BenchmarkAllFiltersMixed;
//     30–34 µs before a line went only to the filters its literals name);
//     sshd alone over sshd lines 9–14 µs (BenchmarkSSHD). fail2ban-regex
//     on the same lines (×20) spends per line and per filter, start-up
//     subtracted: sshd 55 µs, postfix 16, dovecot 15, apache-auth 14,
//     3proxy 12, nginx-http-auth 10 — about 1.8 ms per line for 89 filters
//     summed, some 60 times phalanx's cost.
//   - lines no filter matches, through all 89 filters (3proxy, which has
//     no literal, included): ordinary cron, systemd, kernel, mail-queue
//     and daemon lines of 80–150 bytes (111 on average) cost 89–104 ns
//     of CPU each (BenchmarkNoMatch, cpu-ns/line, -count=5; load average
//     9–12 while measured), against 123–131 ns in the same runs before
//     the second (8-byte) check, the 8-byte loads, the parked filters
//     left uncalled and the cheaper rare-byte and sequence checks, and
//     2.75–3.9 µs before the prefilter (3proxy's expression and date
//     search ran on every line, and a Group copied every line into each
//     multi-line filter's window). Of a line's cost, about 40% is the gram
//     loop and 40% the strings.IndexByte passes: the quote of `" 40x` and
//     3proxy's + and - (a '-' stands in most lines). Lines without any
//     literal through the 88 filters that have literals: 112–118 ns
//     (BenchmarkNoLiteral; 149–188 ns before, 289–338 ns before the
//     prefilter); the scan alone 112–118 ns (BenchmarkScanOnly, lines of
//     which some hold literals; 127–141 ns before).
//   - BenchmarkAllFiltersQuiet (ordinary lines, some with "user", "client",
//     "HTTP"): 114–137 ns, 167–195 ns before, 3.7–4.1 µs before the
//     prefilter.
//
// # Known differences from fail2ban
//
//   - Host names are reported, never resolved (fail2ban's usedns = yes/warn
//     resolves them), so on fail2ban's own sshd sample fail2ban-regex's
//     counts differ from fail2ban-check's by a few lines.
//   - \b stays ASCII (Go's); \d, \w, \s are Unicode as in Python.
//   - Among a datepattern's templates, the first line-anchored one that
//     matches wins, else the one matching earliest in the line; fail2ban
//     reorders its templates by use. A Matcher does remember the anchored
//     template that matched last, as fail2ban does. Date word boundaries
//     are checked after the match rather than by look-ahead. %ExY accepts
//     1900–2099. Fractions of seconds (%f) are kept; fail2ban drops them.
//   - A failregex whose first match for a line gives no failure (<F-NOFAIL>,
//     ignoreregex) ends the search for that line, as in fail2ban's daemon
//     (MatchOptions.CheckAll gives the sample test's behaviour instead).
//   - A match without a host for a multi-line failure id waits for the host
//     (fail2ban's daemon does the same; fail2ban-regex shows it as matched).
//   - Unknown <TAGS> stay literal text, as in fail2ban (haproxy's <NOSRV>),
//     except those one edit away from a fail2ban tag (<HSOT>) and <F-name>
//     in lower case, which are refused as typing errors.
//
// # Conformance
//
// conformance_test.go feeds every annotated sample of fail2ban's own test
// corpus (tests/files/logs in Debian's package) through the filter of the
// same name, once per option set its "# filterOptions:" blocks give (mode,
// logtype, logging), as fail2ban's samplestestcase.py does, and checks
// match, host, time, user, users and attempts: 1381 of 1381 checks agree
// (1044 distinct annotations of the 89 sample files named after a Debian
// filter and sshd-journal, which sshd's sample adds; several are checked
// under more than one mode). Lines without an annotation must not match,
// and none does.
package fail2ban

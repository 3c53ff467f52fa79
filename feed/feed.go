// Package feed moves blocklists in and out of a member.
//
// Out serves the member's active bans as blocklist feeds that hosts without
// a member can pull behind a bouncer key: one address or CIDR per line (for
// ipset, nftables, pf and routers), a JSON array, and a STIX 2.1 bundle of
// indicators for threat-intelligence platforms. Feeds are streamed from the
// decision table, never built in memory.
//
// In subscribes to public blocklists (plain lists, Spamhaus DROP) over HTTP
// or from files, and hands their entries to an Applier, which turns them
// into decisions with origin "feed". A feed that fails keeps its last good
// version, and says so in the log and in Status.
//
// It must not decide anything or write the decision table: Out only reads
// it, and In only hands prefixes to the Applier (the daemon, which checks
// territory and owns the table). Feeds are hostile input: bodies, lines and
// entry counts are bounded, fetches are cut by a timeout, and wildcard
// prefixes (0.0.0.0/0, ::/0) are refused; nothing here panics on a bad list
// or does DNS lookups on list content.
package feed

import (
	"time"

	"phalanx/jsonout"
)

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	b = jsonout.AppendEscaped(b, s)
	return append(b, '"')
}

// clampTime returns t in UTC between the years 0001 and 9999: a four-digit
// year keeps RFC 3339 (and STIX's timestamp type) valid.
func clampTime(t time.Time) time.Time {
	t = t.UTC()
	if t.Year() > 9999 {
		return time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC)
	}
	if t.Year() < 1 {
		return time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return t
}

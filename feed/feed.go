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
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendJSONEscaped(b, s)
	return append(b, '"')
}

// appendJSONEscaped appends s escaped for the inside of a JSON string.
// Invalid UTF-8 becomes U+FFFD; control characters, <, > and & are escaped,
// as encoding/json does.
func appendJSONEscaped(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			switch r {
			case '\u2028':
				b = append(b, `\u2028`...)
			case '\u2029':
				b = append(b, `\u2029`...)
			default:
				b = append(b, `\ufffd`...)
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
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

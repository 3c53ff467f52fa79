package feed

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"slices"

	"phalanx"
)

// Formats of subscribed lists.
const (
	// FormatPlain is one address or CIDR per line; "#" and ";" start
	// comments, on a line of their own or after the entry.
	FormatPlain = "plain"
	// FormatDROP is Spamhaus DROP's layout: "192.0.2.0/24 ; SBL123456",
	// with ";" comment lines.
	FormatDROP = "drop"
)

// maxLine bounds a line of a list; longer lines are skipped as garbage.
const maxLine = 4096

// ErrTooManyEntries is wrapped by Parse's error when a list has more
// distinct entries than allowed.
var ErrTooManyEntries = errors.New("too many entries")

// Parse reads a blocklist in format (FormatPlain, FormatDROP, or "" for
// plain) and returns its distinct entries, normalised as the decision table
// stores them (IPv4-mapped addresses as IPv4, host bits cleared; a single
// address is a full-length prefix), sorted by address then length.
//
// Blank and comment lines are ignored. Lines that hold no valid entry
// (garbage, zoned addresses, ranges written "a-b", lines longer than 4096
// bytes) and duplicates are skipped and counted in skipped. Parse does not
// judge what it finds: 0.0.0.0/0 and ::/0 come back as entries, and the
// caller refuses them (In does).
//
// A list with more than max distinct entries (DefaultMaxEntries when max
// <= 0) fails with an error wrapping ErrTooManyEntries; memory stays within
// twice max entries. Parse reads r to its end; bound its size with the
// reader (In does). A read error is returned wrapped.
func Parse(r io.Reader, format string, max int) (entries []netip.Prefix, skipped int, err error) {
	var comments string
	switch format {
	case FormatPlain, "":
		comments = "#;"
	case FormatDROP:
		comments = ";"
	default:
		return nil, 0, fmt.Errorf("unknown feed format %q: use %q or %q", format, FormatPlain, FormatDROP)
	}
	if max <= 0 {
		max = DefaultMaxEntries
	}
	max = min(max, math.MaxInt/2)
	br := bufio.NewReaderSize(r, maxLine)
	dups := 0
	for {
		line, rerr := br.ReadSlice('\n')
		if rerr == bufio.ErrBufferFull {
			skipped++
			for rerr == bufio.ErrBufferFull {
				_, rerr = br.ReadSlice('\n')
			}
			if rerr != nil && rerr != io.EOF {
				return nil, skipped, fmt.Errorf("read feed: %w", rerr)
			}
			if rerr == io.EOF {
				break
			}
			continue
		}
		if rerr != nil && rerr != io.EOF {
			return nil, skipped, fmt.Errorf("read feed: %w", rerr)
		}
		if p, ok, blank := parseLine(line, comments); blank {
			// nothing
		} else if !ok {
			skipped++
		} else {
			if len(entries) >= 2*max {
				// Duplicates are removed in bulk, which keeps the cost of
				// each line low and memory within twice max entries.
				entries, dups = compact(entries, dups)
				if len(entries) > max {
					return nil, skipped + dups, tooMany(max)
				}
			}
			if entries == nil {
				entries = make([]netip.Prefix, 0, 1024)
			}
			entries = append(entries, p)
		}
		if rerr == io.EOF {
			break
		}
	}
	entries, dups = compact(entries, dups)
	if len(entries) > max {
		return nil, skipped + dups, tooMany(max)
	}
	return entries, skipped + dups, nil
}

func tooMany(max int) error {
	return fmt.Errorf("%w: more than %d distinct entries (raise max_entries, or subscribe to a smaller list)", ErrTooManyEntries, max)
}

// compact sorts entries and removes duplicates, adding their number to dups.
func compact(entries []netip.Prefix, dups int) ([]netip.Prefix, int) {
	slices.SortFunc(entries, comparePrefix)
	n := len(entries)
	entries = slices.Compact(entries)
	return entries, dups + n - len(entries)
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(a.Bits(), b.Bits())
}

// parseLine returns the entry on line; blank is true for a line without one
// that is empty or a comment.
func parseLine(line []byte, comments string) (p netip.Prefix, ok, blank bool) {
	if i := bytes.IndexAny(line, comments); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return netip.Prefix{}, false, true
	}
	p, ok = parseEntry(line)
	return p, ok, false
}

// parseEntry parses one address or CIDR, normalised.
func parseEntry(s []byte) (netip.Prefix, bool) {
	if len(s) > 64 { // longer than any address or CIDR
		return netip.Prefix{}, false
	}
	var p netip.Prefix
	if i := bytes.IndexByte(s, '/'); i >= 0 {
		var err error
		if p, err = netip.ParsePrefix(string(s)); err != nil {
			return netip.Prefix{}, false
		}
	} else {
		a, err := netip.ParseAddr(string(s))
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, false
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	return phalanx.NormalizePrefix(p)
}

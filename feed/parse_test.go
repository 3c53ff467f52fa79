package feed

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"phalanx"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		format  string
		in      string
		max     int
		want    []string
		skipped int
		err     error // wrapped by the error, nil for none
	}{
		{name: "plain", in: "192.0.2.1\n198.51.100.0/24\n",
			want: []string{"192.0.2.1/32", "198.51.100.0/24"}},
		{name: "plain is the default", format: "", in: "192.0.2.1\n",
			want: []string{"192.0.2.1/32"}},
		{name: "comments and blank lines", format: FormatPlain,
			in:   "# a list\n\n   \n; also a comment\n192.0.2.1 # first seen today\n198.51.100.7\t; tab then comment\n#192.0.2.99\n",
			want: []string{"192.0.2.1/32", "198.51.100.7/32"}},
		{name: "DROP", format: FormatDROP,
			in: "; Spamhaus DROP List 2026/03/01 - (c) 2026 The Spamhaus Project\n; Last-Modified: Sun, 01 Mar 2026 10:00:00 GMT\n; Expires: Sun, 01 Mar 2026 11:00:00 GMT\n" +
				"1.10.16.0/20 ; SBL256894\n1.19.0.0/16 ; SBL434604\n2.56.192.0/22 ; SBL459831\n",
			want: []string{"1.10.16.0/20", "1.19.0.0/16", "2.56.192.0/22"}},
		{name: "DROP does not take # comments", format: FormatDROP,
			in: "# not DROP\n1.10.16.0/20 ; SBL256894\n", want: []string{"1.10.16.0/20"}, skipped: 1},
		{name: "CRLF", in: "192.0.2.1\r\n198.51.100.0/24\r\n\r\n# c\r\n",
			want: []string{"192.0.2.1/32", "198.51.100.0/24"}},
		{name: "no final newline", in: "192.0.2.1\n192.0.2.2",
			want: []string{"192.0.2.1/32", "192.0.2.2/32"}},
		{name: "garbage", in: "hello\n192.0.2.1\n300.1.2.3\n192.0.2.0/33\n192.0.2.1-192.0.2.9\n192.0.2.1 192.0.2.2\n" +
			"example.org\n010.1.1.1\n\x00\xff\xfe\n<html><body>Not Found</body></html>\nfe80::1%eth0\n2001:db8::/129\n",
			want: []string{"192.0.2.1/32"}, skipped: 11},
		{name: "IPv6", in: "2001:db8::1\n2001:db8:1::/48\n2001:DB8:2::1/64\n",
			want: []string{"2001:db8::1/128", "2001:db8:1::/48", "2001:db8:2::/64"}},
		{name: "host bits cleared", in: "192.0.2.77/24\n",
			want: []string{"192.0.2.0/24"}},
		{name: "IPv4-mapped", in: "::ffff:192.0.2.1\n::ffff:198.51.100.0/120\n",
			want: []string{"192.0.2.1/32", "198.51.100.0/24"}},
		{name: "wildcards come back for the caller to refuse", in: "0.0.0.0/0\n::/0\n192.0.2.1\n",
			want: []string{"0.0.0.0/0", "192.0.2.1/32", "::/0"}},
		{name: "duplicates", in: "192.0.2.1\n192.0.2.1/32\n::ffff:192.0.2.1\n198.51.100.0/24\n198.51.100.9/24\n",
			want: []string{"192.0.2.1/32", "198.51.100.0/24"}, skipped: 3},
		{name: "sorted", in: "2001:db8::1\n198.51.100.0/24\n192.0.2.1\n192.0.2.0/24\n",
			want: []string{"192.0.2.0/24", "192.0.2.1/32", "198.51.100.0/24", "2001:db8::1/128"}},
		{name: "overlong line", in: "192.0.2.1\n" + strings.Repeat("9", 10_000) + "\n192.0.2.2\n",
			want: []string{"192.0.2.1/32", "192.0.2.2/32"}, skipped: 1},
		{name: "overlong last line", in: "192.0.2.1\n" + strings.Repeat("#", 10_000),
			want: []string{"192.0.2.1/32"}, skipped: 1},
		{name: "empty", in: "", want: nil},
		{name: "comments only", in: "# nothing today\n", want: nil},
		{name: "at max", in: "192.0.2.1\n192.0.2.2\n", max: 2,
			want: []string{"192.0.2.1/32", "192.0.2.2/32"}},
		{name: "over max", in: "192.0.2.1\n192.0.2.2\n192.0.2.3\n", max: 2, err: ErrTooManyEntries},
		{name: "duplicates do not count against max", in: "192.0.2.1\n192.0.2.1\n192.0.2.1\n192.0.2.2\n192.0.2.1\n", max: 2,
			want: []string{"192.0.2.1/32", "192.0.2.2/32"}, skipped: 3},
		{name: "over max after duplicates", in: "192.0.2.1\n192.0.2.1\n192.0.2.1\n192.0.2.1\n192.0.2.2\n192.0.2.3\n", max: 2,
			err: ErrTooManyEntries},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, skipped, err := Parse(strings.NewReader(tt.in), tt.format, tt.max)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for _, p := range got {
				s = append(s, p.String())
			}
			if strings.Join(s, " ") != strings.Join(tt.want, " ") || skipped != tt.skipped {
				t.Errorf("got %q skipped %d, want %q skipped %d", s, skipped, tt.want, tt.skipped)
			}
		})
	}
}

func TestParseUnknownFormat(t *testing.T) {
	if _, _, err := Parse(strings.NewReader("192.0.2.1\n"), "csv", 0); err == nil || !strings.Contains(err.Error(), `"plain"`) {
		t.Errorf("err %v, want one naming the known formats", err)
	}
}

type failingReader struct{ err error }

func (f failingReader) Read([]byte) (int, error) { return 0, f.err }

func TestParseReadError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("192.0.2.1\n"), failingReader{boom})
	if _, _, err := Parse(r, FormatPlain, 0); !errors.Is(err, boom) {
		t.Errorf("err %v, want one wrapping %v", err, boom)
	}
}

// FuzzParse checks that Parse never panics, returns distinct, sorted,
// normalised entries within max, and reads its own output back unchanged.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"192.0.2.1\n198.51.100.0/24\n",
		"; DROP\n1.10.16.0/20 ; SBL256894\r\n",
		"::ffff:192.0.2.1\n2001:db8::/32\n0.0.0.0/0\n::/0\n",
		"# c\n192.0.2.1 # c\n\n\x00garbage\n" + strings.Repeat("1", 5000) + "\n",
		"fe80::1%eth0\n192.0.2.1/33\n1.2.3.4\n1.2.3.4\n",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, in string, drop bool) {
		format := FormatPlain
		if drop {
			format = FormatDROP
		}
		const max = 1000
		got, skipped, err := Parse(strings.NewReader(in), format, max)
		if err != nil {
			if !errors.Is(err, ErrTooManyEntries) {
				t.Fatalf("error on a reader that cannot fail: %v", err)
			}
			return
		}
		if skipped < 0 || len(got) > max || len(got)+skipped > strings.Count(in, "\n")+1 {
			t.Fatalf("%d entries, %d skipped, from %d lines", len(got), skipped, strings.Count(in, "\n")+1)
		}
		var out bytes.Buffer
		for i, p := range got {
			if n, ok := phalanx.NormalizePrefix(p); !ok || n != p {
				t.Fatalf("entry %v is not normalised", p)
			}
			if i > 0 && comparePrefix(got[i-1], p) >= 0 {
				t.Fatalf("entries %v, %v out of order or repeated", got[i-1], p)
			}
			out.WriteString(p.String())
			out.WriteByte('\n')
		}
		again, skipped2, err := Parse(&out, format, max)
		if err != nil || skipped2 != 0 || len(again) != len(got) {
			t.Fatalf("own output read back as %d entries, %d skipped, err %v; want %d", len(again), skipped2, err, len(got))
		}
		for i := range got {
			if again[i] != got[i] {
				t.Fatalf("read back %v as %v", got[i], again[i])
			}
		}
	})
}

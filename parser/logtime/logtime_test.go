package logtime

import (
	"testing"
	"time"
)

func TestStamps(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	for _, c := range []struct {
		in   string
		f    func([]byte, *time.Location) (time.Time, int, bool)
		want string // RFC 3339 nano, "" for no stamp
		n    int
	}{
		{"2019-01-03T08:50:04.634875Z 113 [Note]", ISO, "2019-01-03T08:50:04.634875Z", 27},
		{"2015-10-07  8:25:38 1398 [Warning]", ISO, "2015-10-07T08:25:38+01:00", 19},
		{"2013-11-16 21:59:30,121 novo", ISO, "2013-11-16T21:59:30.121+01:00", 23},
		{"2024-05-01 10:00:00.123 UTC [4242]", ISO, "2024-05-01T10:00:00.123Z", 27},
		{"2024-05-01T10:00:00+02:00 x", ISO, "2024-05-01T10:00:00+02:00", 25},
		{"2024-05-01T10:00:00-0530 x", ISO, "2024-05-01T10:00:00-05:30", 24},
		{"2024-13-01 10:00:00 x", ISO, "", 0},
		{"2024-05-01 24:00:00 x", ISO, "", 0},
		{"2024-05-01 10:00:00. x", ISO, "", 0},
		{"2024-05-01T10:00:00+2", ISO, "", 0},
		{"130324  0:04:00 [Warning]", Short, "2013-03-24T00:04:00+01:00", 15},
		{"130324 17:56:13 [Warning]", Short, "2013-03-24T17:56:13+01:00", 15},
		{"1303241 7:56:13 [Warning]", Short, "", 0},
		{"Thu Sep  8 00:39:49 2016 [pid 1]", Ctime, "2016-09-08T00:39:49+01:00", 24},
		{"Fri Jan 19 12:20:33 2007 [pid 1]", Ctime, "2007-01-19T12:20:33+01:00", 24},
		{"Fri Foo 19 12:20:33 2007 [pid 1]", Ctime, "", 0},
	} {
		got, n, ok := c.f([]byte(c.in), cet)
		switch {
		case c.want == "" && ok:
			t.Errorf("%q: read %v", c.in, got)
		case c.want != "" && (!ok || got.Format(time.RFC3339Nano) != c.want || n != c.n):
			t.Errorf("%q: %v %d %v, want %s %d", c.in, got.Format(time.RFC3339Nano), n, ok, c.want, c.n)
		}
	}
}

// FuzzStamps: no stamp reader panics, reads past its input, or returns a
// time it did not read.
func FuzzStamps(f *testing.F) {
	for _, s := range []string{"2019-01-03T08:50:04.634875Z 1", "2015-10-07  8:25:38 1", "130324  0:04:00 [", "Thu Sep  8 00:39:49 2016 [", "2024-05-01T10:00:00+02:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, read := range []func([]byte, *time.Location) (time.Time, int, bool){ISO, Short, Ctime} {
			got, n, ok := read([]byte(s), time.UTC)
			if ok && (n <= 0 || n > len(s) || got.IsZero()) || !ok && n != 0 {
				t.Fatalf("%q: %v %d %v", s, got, n, ok)
			}
		}
	})
}

func TestAllocs(t *testing.T) {
	b := []byte("2019-01-03T08:50:04.634875Z 113 [Note]")
	if n := testing.AllocsPerRun(100, func() { ISO(b, time.UTC) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

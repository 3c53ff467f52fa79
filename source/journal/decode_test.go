package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// decodeAll decodes every entry of in and returns them with the error that
// ended the input.
func decodeAll(in []byte, max int) ([]Entry, *counters, error) {
	c := &counters{}
	d := newDecoder(bytes.NewReader(in), max, c)
	var out []Entry
	for {
		var e Entry
		if err := d.next(&e); err != nil {
			return out, c, err
		}
		out = append(out, e)
	}
}

func TestDecodeFields(t *testing.T) {
	r := sshd(7)
	entries, c, err := decodeAll(r.withCursor(), DefaultMaxField)
	if err != io.EOF {
		t.Fatalf("end: %v, want io.EOF", err)
	}
	if len(entries) != 1 || c.decodeErrors.Load() != 0 {
		t.Fatalf("got %d entries, %d errors", len(entries), c.decodeErrors.Load())
	}
	e := entries[0]
	want := Entry{
		Time:       time.UnixMicro(r.realtime()),
		Host:       "web1",
		Identifier: "sshd",
		PID:        1007,
		Unit:       "ssh.service",
		Message:    []byte("Failed password for root from 192.0.2.7 port 7 ssh2"),
	}
	if !strings.HasPrefix(e.Cursor, "s=feedface") || !e.Time.Equal(want.Time) || e.Host != want.Host ||
		e.Identifier != want.Identifier || e.PID != want.PID || e.Unit != want.Unit || !bytes.Equal(e.Message, want.Message) {
		t.Fatalf("entry\n%+v\nwant\n%+v", e, want)
	}
}

func TestDecodeFallbacks(t *testing.T) {
	for _, tc := range []struct {
		name      string
		r         record
		wantIdent string
		wantPID   int
	}{
		{"comm when no identifier", record{i: 1, comm: "sshd-session", pid: "42"}, "sshd-session", 42},
		{"syslog pid when no pid", record{i: 1, ident: "sshd", spid: "43"}, "sshd", 43},
		{"pid wins over syslog pid", record{i: 1, ident: "sshd", pid: "44", spid: "1"}, "sshd", 44},
		{"bad pid falls back", record{i: 1, ident: "sshd", pid: "4x", spid: "45"}, "sshd", 45},
		{"no pid", record{i: 1, ident: "sshd"}, "sshd", -1},
		{"huge pid", record{i: 1, ident: "sshd", pid: "99999999999"}, "sshd", -1},
		{"nothing", record{i: 1}, "", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es, _, _ := decodeAll(tc.r.withCursor(), DefaultMaxField)
			if len(es) != 1 {
				t.Fatalf("got %d entries", len(es))
			}
			if es[0].Identifier != tc.wantIdent || es[0].PID != tc.wantPID {
				t.Fatalf("identifier %q pid %d, want %q %d", es[0].Identifier, es[0].PID, tc.wantIdent, tc.wantPID)
			}
		})
	}
}

func TestDecodeBinaryMessages(t *testing.T) {
	for _, msg := range [][]byte{
		[]byte("bad \xff\xfe utf8 from 192.0.2.9"),
		[]byte("line one\nline two\n"),
		{0, 1, 2, '\n', '\n', 0},
		{},
	} {
		r := sshd(1)
		r.message = msg
		es, c, err := decodeAll(r.withCursor(), DefaultMaxField)
		if err != io.EOF || len(es) != 1 || c.decodeErrors.Load() != 0 {
			t.Fatalf("%q: %d entries, err %v, %d decode errors", msg, len(es), err, c.decodeErrors.Load())
		}
		if !bytes.Equal(es[0].Message, msg) {
			t.Fatalf("message %q, want %q", es[0].Message, msg)
		}
	}
}

// binaryField writes a binary field with the given length prefix and data.
func binaryField(name string, length uint64, data []byte) []byte {
	b := []byte(name + "\n")
	b = binary.LittleEndian.AppendUint64(b, length)
	b = append(b, data...)
	return append(b, '\n')
}

func TestDecodeBadInput(t *testing.T) {
	good := func(i int) []byte { return sshd(i).withCursor() }
	cursor := "__CURSOR=s=ab;i=1\n__REALTIME_TIMESTAMP=1\n"
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for _, tc := range []struct {
		name               string
		in                 []byte
		max                int
		wantPorts          []int // the messages' ports of the entries returned
		wantErrors         int64
		wantSkipped        int64
		wantOversize       int64
		wantEnd            error
		wantMessageMaxSize int
	}{
		{name: "empty", in: nil, wantEnd: io.EOF},
		{name: "blank lines between entries", in: cat([]byte("\n\n"), good(1), []byte("\n\n"), good(2)), wantPorts: []int{1, 2}, wantEnd: io.EOF},
		{name: "garbage line then entries", in: cat([]byte("-- No entries --\n"), good(1), good(2)), wantPorts: []int{1, 2}, wantErrors: 1, wantEnd: io.EOF},
		{name: "garbage inside an entry", in: cat([]byte(cursor+"what is this\nMESSAGE=x\n\n"), good(2)), wantPorts: []int{2}, wantErrors: 1, wantEnd: io.EOF},
		{name: "no cursor", in: cat([]byte("__REALTIME_TIMESTAMP=1\nMESSAGE=x\n\n"), good(2)), wantPorts: []int{2}, wantErrors: 1, wantEnd: io.EOF},
		{name: "bad cursor", in: cat([]byte("__CURSOR=s=a b\n__REALTIME_TIMESTAMP=1\n\n"), good(2)), wantPorts: []int{2}, wantErrors: 1, wantEnd: io.EOF},
		{name: "bad time", in: cat([]byte("__CURSOR=s=a\n__REALTIME_TIMESTAMP=-1\n\n"), good(2)), wantPorts: []int{2}, wantErrors: 1, wantEnd: io.EOF},
		{name: "time overflow", in: cat([]byte("__CURSOR=s=a\n__REALTIME_TIMESTAMP=9999999999999999999\n\n"), good(2)), wantPorts: []int{2}, wantErrors: 1, wantEnd: io.EOF},
		{name: "binary length too short", in: cat([]byte(cursor), binaryField("MESSAGE", 2, []byte("abcdef")), []byte("\n"), good(2)), wantPorts: []int{2}, wantErrors: 1, wantEnd: io.EOF},
		{name: "binary length absurd", in: cat([]byte(cursor), binaryField("MESSAGE", 1<<62, []byte("abc")), []byte("\n"), good(2)), wantPorts: []int{2}, wantErrors: 1, wantEnd: io.EOF},
		{name: "binary length past the end", in: cat(good(1), []byte(cursor), binaryField("MESSAGE", 1000, []byte("abc"))), wantPorts: []int{1}, wantEnd: io.ErrUnexpectedEOF},
		{name: "cut inside an entry", in: cat(good(1), good(2)[:40]), wantPorts: []int{1}, wantEnd: io.ErrUnexpectedEOF},
		{name: "cut inside a binary header", in: cat(good(1), []byte(cursor+"MESSAGE\n\x05\x00")), wantPorts: []int{1}, wantEnd: io.ErrUnexpectedEOF},
		{
			name:      "long text message skipped",
			in:        cat(good(1), []byte(cursor+"MESSAGE="+strings.Repeat("x", 3000)+"\n\n"), good(3)),
			max:       1024,
			wantPorts: []int{1, 3}, wantSkipped: 1, wantOversize: 1, wantEnd: io.EOF,
		},
		{
			name:      "text message just over the limit skipped",
			in:        cat([]byte(cursor+"MESSAGE="+strings.Repeat("x", 1025)+"\n\n"), good(3)),
			max:       1024,
			wantPorts: []int{3}, wantSkipped: 1, wantOversize: 1, wantEnd: io.EOF,
		},
		{
			name:      "long binary message skipped",
			in:        cat([]byte(cursor), binaryField("MESSAGE", 5000, bytes.Repeat([]byte{0xff}, 5000)), []byte("\n"), good(3)),
			max:       1024,
			wantPorts: []int{3}, wantSkipped: 1, wantOversize: 1, wantEnd: io.EOF,
		},
		{
			name:      "long unused field ignored",
			in:        cat([]byte("OTHER="+strings.Repeat("y", 5000)+"\n"), binaryField("BLOB", 5000, make([]byte, 5000)), good(3)),
			max:       1024,
			wantPorts: []int{3}, wantOversize: 2, wantEnd: io.EOF,
		},
		{
			name:      "long garbage line",
			in:        cat([]byte(strings.Repeat("\xff", 5000)+"\n"), good(3)),
			max:       1024,
			wantPorts: []int{3}, wantErrors: 1, wantEnd: io.EOF,
		},
		{
			name:      "long host ignored, entry kept",
			in:        cat([]byte(cursor + "_HOSTNAME=" + strings.Repeat("h", 2000) + "\nMESSAGE=Failed password for root from 192.0.2.7 port 9 ssh2\n\n")),
			max:       1024,
			wantPorts: []int{9}, wantOversize: 1, wantEnd: io.EOF,
		},
		{
			name:      "repeated message: first wins",
			in:        []byte(cursor + "MESSAGE=Failed password for root from 192.0.2.7 port 5 ssh2\nMESSAGE=other\n\n"),
			wantPorts: []int{5}, wantEnd: io.EOF,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			max := tc.max
			if max == 0 {
				max = DefaultMaxField
			}
			es, c, err := decodeAll(tc.in, max)
			if !errors.Is(err, tc.wantEnd) {
				t.Errorf("end %v, want %v", err, tc.wantEnd)
			}
			var ports []int
			for _, e := range es {
				ports = append(ports, port(e))
			}
			if !equalInts(ports, tc.wantPorts) {
				t.Errorf("ports %v, want %v", ports, tc.wantPorts)
			}
			if got := c.decodeErrors.Load(); got != tc.wantErrors {
				t.Errorf("decode errors %d, want %d", got, tc.wantErrors)
			}
			if got := c.skipped.Load(); got != tc.wantSkipped {
				t.Errorf("skipped %d, want %d", got, tc.wantSkipped)
			}
			if got := c.oversize.Load(); got != tc.wantOversize {
				t.Errorf("oversize %d, want %d", got, tc.wantOversize)
			}
		})
	}
}

// port returns the port in a test message, -1 when there is none.
func port(e Entry) int {
	var p int
	i := bytes.Index(e.Message, []byte(" port "))
	if i < 0 {
		return -1
	}
	for _, c := range e.Message[i+6:] {
		if c < '0' || c > '9' {
			break
		}
		p = p*10 + int(c-'0')
	}
	return p
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestDecodeReusesStrings checks that repeated hosts, identifiers and units
// are not allocated again for every entry.
func TestDecodeReusesStrings(t *testing.T) {
	var in []byte
	for i := 1; i <= 100; i++ {
		in = append(in, sshd(i).withCursor()...)
	}
	d := newDecoder(bytes.NewReader(in), DefaultMaxField, &counters{})
	var e Entry
	if err := d.next(&e); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(50, func() {
		if err := d.next(&e); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 2 { // the cursor and the message
		t.Fatalf("%v allocations per entry, want at most 2", allocs)
	}
}

// FuzzDecode feeds the export decoder arbitrary bytes: it must not panic,
// must keep its bounds, and must return every entry that follows a good
// entry boundary.
func FuzzDecode(f *testing.F) {
	f.Add(sshd(1).withCursor())
	f.Add(append(sshd(1).withCursor(), sshd(2).withCursor()...))
	bin := sshd(3)
	bin.message = []byte("a\nb\xff")
	f.Add(bin.withCursor())
	f.Add([]byte("__CURSOR=s=1\n__REALTIME_TIMESTAMP=5\nMESSAGE\n\x03\x00\x00\x00\x00\x00\x00\x00abc\n\n"))
	f.Add([]byte("__CURSOR=s=1\nMESSAGE\n\xff\xff\xff\xff\xff\xff\xff\xff"))
	f.Add([]byte("-- No entries --\n"))
	f.Add([]byte("MESSAGE=" + strings.Repeat("z", 300) + "\n\n"))
	const max = 256
	f.Fuzz(func(t *testing.T, in []byte) {
		c := &counters{}
		d := newDecoder(bytes.NewReader(in), max, c)
		for n := 0; ; n++ {
			if n > len(in) {
				t.Fatalf("more entries (%d) than input bytes", n)
			}
			var e Entry
			err := d.next(&e)
			if err != nil {
				if err != io.EOF && err != io.ErrUnexpectedEOF {
					t.Fatalf("error %v from a bytes.Reader", err)
				}
				break
			}
			if !validCursor(e.Cursor) {
				t.Fatalf("invalid cursor %q returned", e.Cursor)
			}
			if len(e.Message) > max || len(e.Host) > max || len(e.Identifier) > max || len(e.Unit) > max {
				t.Fatalf("field longer than max %d returned", max)
			}
			if e.PID < -1 || e.PID == 0 {
				t.Fatalf("pid %d", e.PID)
			}
		}
		for i := range d.val {
			if cap(d.val[i]) > max {
				t.Fatalf("slot %d grew to %d bytes, max %d", i, cap(d.val[i]), max)
			}
		}
		// A good entry after the garbage and an empty line is always read.
		tail := sshd(77).withCursor()
		in2 := append(append(append([]byte(nil), in...), "\n\n"...), tail...)
		es, _, _ := decodeAll(in2, max)
		for _, line := range bytes.Split(in, []byte("\n")) {
			if validName(line) {
				return // a binary field's length may swallow what follows
			}
		}
		if len(es) == 0 || port(es[len(es)-1]) != 77 {
			t.Fatalf("the entry after the garbage was lost: %d entries", len(es))
		}
	})
}

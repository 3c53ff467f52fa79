package outbox

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// payload is the data the tests store under seq: recognisable and of
// varying length (0 to 299 bytes after the prefix; seq 7 gets none).
func payload(seq uint64) []byte {
	if seq == 7 {
		return []byte{}
	}
	b := []byte(fmt.Sprintf("report %d|", seq))
	for i := range int(seq*37) % 300 {
		b = append(b, byte(seq)+byte(i))
	}
	return b
}

// t0 is the time tests give records: 2026-01-01, plus seq seconds.
func recTime(seq uint64) time.Time {
	return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(seq) * time.Second)
}

// logBuf collects what an Outbox logs.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newLog() (*slog.Logger, *logBuf) {
	lb := &logBuf{}
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

func mustOpen(t testing.TB, dir string, opt Options) *Outbox {
	t.Helper()
	o, err := Open(dir, opt)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

func fill(t testing.TB, o *Outbox, from, to uint64) {
	t.Helper()
	for seq := from; seq <= to; seq++ {
		if err := o.Append(seq, recTime(seq), payload(seq)); err != nil {
			t.Fatalf("Append(%d): %v", seq, err)
		}
	}
}

// checkStored fails unless exactly the seqs in want (ascending) are
// stored, each with its payload.
func checkStored(t testing.TB, o *Outbox, want []uint64) {
	t.Helper()
	var got []uint64
	err := o.Range(0, math.MaxUint64, math.MaxInt, func(seq uint64, data []byte) bool {
		got = append(got, seq)
		if !bytes.Equal(data, payload(seq)) {
			t.Errorf("Range: seq %d holds %q, want %q", seq, data, payload(seq))
		}
		return true
	})
	if err != nil {
		t.Fatalf("Range: %v", err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stored seqs %v, want %v", got, want)
	}
	for _, seq := range want {
		data, ok := o.Get(seq)
		if !ok || !bytes.Equal(data, payload(seq)) {
			t.Errorf("Get(%d) = %q, %v; want its payload", seq, data, ok)
		}
	}
}

func seqs(from, to uint64) []uint64 {
	var s []uint64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

func segFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// copyDir copies the regular files of src to a new directory.
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	es, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// recordSpan returns the byte range of seq's record in its segment file.
func recordSpan(t testing.TB, o *Outbox, seq uint64) (path string, off, end int64) {
	t.Helper()
	o.mu.RLock()
	defer o.mu.RUnlock()
	for _, s := range o.segs {
		if l, ok := s.lookup(seq); ok {
			return s.path, int64(l.off), int64(l.off) + recHeaderSize + int64(l.n)
		}
	}
	t.Fatalf("seq %d is not stored", seq)
	return "", 0, 0
}

func TestRoundTrip(t *testing.T) {
	o := mustOpen(t, t.TempDir(), Options{NoSync: true})
	if o.Last() != 0 || o.First() != 0 || o.Published() != 0 {
		t.Fatalf("new outbox: Last %d First %d Published %d, want 0s", o.Last(), o.First(), o.Published())
	}
	fill(t, o, 1, 100)
	if o.Last() != 100 || o.First() != 1 {
		t.Fatalf("Last %d First %d, want 100 and 1", o.Last(), o.First())
	}
	checkStored(t, o, seqs(1, 100))
	for _, seq := range []uint64{0, 101, math.MaxUint64} {
		if _, ok := o.Get(seq); ok {
			t.Errorf("Get(%d) found a record", seq)
		}
	}
	// Data handed out is the caller's: changing it changes nothing stored.
	d, _ := o.Get(50)
	d[0] ^= 0xff
	checkStored(t, o, seqs(1, 100))
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	o, err := Open(dir, Options{SegmentBytes: 4 << 10}) // with fsync, several segments
	if err != nil {
		t.Fatal(err)
	}
	fill(t, o, 1, 60)
	if err := o.MarkPublished(42); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(segFiles(t, dir)); n < 3 {
		t.Fatalf("%d segment files, want several (rotation at 4 KiB)", n)
	}
	o = mustOpen(t, dir, Options{SegmentBytes: 4 << 10})
	if o.Last() != 60 || o.Published() != 42 {
		t.Fatalf("after reopen: Last %d Published %d, want 60 and 42", o.Last(), o.Published())
	}
	checkStored(t, o, seqs(1, 60))
	fill(t, o, 61, 70)
	o.Close()
	o = mustOpen(t, dir, Options{SegmentBytes: 4 << 10})
	checkStored(t, o, seqs(1, 70))
}

func TestAppendRejects(t *testing.T) {
	big := make([]byte, MaxRecordSize+1)
	cases := []struct {
		name    string
		stored  []uint64 // appended first
		seq     uint64
		time    time.Time
		data    []byte
		wantErr error // nil: any error
	}{
		{name: "zero seq on empty", seq: 0, time: recTime(1), wantErr: ErrOrder},
		{name: "repeat", stored: seqs(1, 3), seq: 3, time: recTime(3), wantErr: ErrOrder},
		{name: "backwards", stored: seqs(1, 3), seq: 1, time: recTime(1), wantErr: ErrOrder},
		{name: "too large", seq: 1, time: recTime(1), data: big, wantErr: ErrTooLarge},
		{name: "zero time", seq: 1},
		{name: "time out of range", seq: 1, time: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := mustOpen(t, t.TempDir(), Options{NoSync: true})
			if len(c.stored) > 0 {
				fill(t, o, c.stored[0], c.stored[len(c.stored)-1])
			}
			before := o.Last()
			err := o.Append(c.seq, c.time, c.data)
			if err == nil || c.wantErr != nil && !errors.Is(err, c.wantErr) {
				t.Fatalf("Append(%d) = %v, want %v", c.seq, err, c.wantErr)
			}
			if o.Last() != before {
				t.Fatalf("Last moved from %d to %d on a rejected append", before, o.Last())
			}
			// The outbox still takes the right record.
			if err := o.Append(before+1, recTime(before+1), payload(before+1)); err != nil {
				t.Fatalf("Append(%d) after the rejection: %v", before+1, err)
			}
		})
	}
}

func TestLateStart(t *testing.T) {
	// A member whose reports 1..41 live only on the fabric starts its
	// outbox at 42; those below count as published, also after a reopen.
	dir := t.TempDir()
	o := mustOpen(t, dir, Options{NoSync: true})
	fill(t, o, 42, 44)
	if o.Published() != 41 || o.First() != 42 || o.Last() != 44 {
		t.Fatalf("Published %d First %d Last %d, want 41, 42, 44", o.Published(), o.First(), o.Last())
	}
	o.Close()
	o = mustOpen(t, dir, Options{NoSync: true})
	if o.Published() != 41 || o.Last() != 44 {
		t.Fatalf("after reopen: Published %d Last %d, want 41 and 44", o.Published(), o.Last())
	}
	checkStored(t, o, seqs(42, 44))
}

func TestAppendBatch(t *testing.T) {
	dir := t.TempDir()
	o := mustOpen(t, dir, Options{SegmentBytes: 4 << 10})
	var recs []Record
	for seq := uint64(1); seq <= 50; seq++ {
		recs = append(recs, Record{Seq: seq, Time: recTime(seq), Data: payload(seq)})
	}
	if err := o.AppendBatch(recs[:1]); err != nil {
		t.Fatal(err)
	}
	bad := append([]Record(nil), recs[1:5]...)
	bad[2].Seq = 99
	if err := o.AppendBatch(bad); !errors.Is(err, ErrOrder) {
		t.Fatalf("batch with a gap inside: %v, want ErrOrder", err)
	}
	if o.Last() != 1 {
		t.Fatalf("Last %d after rejected batches, want 1", o.Last())
	}
	if err := o.AppendBatch(recs[1:]); err != nil { // spans several segments
		t.Fatal(err)
	}
	checkStored(t, o, seqs(1, 50))
	if n := len(segFiles(t, dir)); n < 3 {
		t.Fatalf("%d segment files, want several", n)
	}
	o.Close()
	o = mustOpen(t, dir, Options{SegmentBytes: 4 << 10})
	checkStored(t, o, seqs(1, 50))
}

func TestLargeRecordGetsItsOwnSegment(t *testing.T) {
	dir := t.TempDir()
	o := mustOpen(t, dir, Options{SegmentBytes: 4 << 10, NoSync: true})
	fill(t, o, 1, 2)
	big := bytes.Repeat([]byte("x"), 10<<10)
	if err := o.Append(3, recTime(3), big); err != nil {
		t.Fatal(err)
	}
	fill(t, o, 4, 4)
	o.Close()
	o = mustOpen(t, dir, Options{SegmentBytes: 4 << 10, NoSync: true})
	if d, ok := o.Get(3); !ok || !bytes.Equal(d, big) {
		t.Fatalf("Get(3): %d bytes, %v", len(d), ok)
	}
	if n := len(segFiles(t, dir)); n != 3 {
		t.Fatalf("%d segment files, want 3 (before, the big record, after)", n)
	}
}

func TestRange(t *testing.T) {
	o := mustOpen(t, t.TempDir(), Options{NoSync: true})
	fill(t, o, 1, 20)
	collect := func(from, to uint64, limit int, stopAfter int) ([]uint64, error) {
		var got []uint64
		err := o.Range(from, to, limit, func(seq uint64, data []byte) bool {
			if !bytes.Equal(data, payload(seq)) {
				t.Errorf("seq %d: wrong data", seq)
			}
			got = append(got, seq)
			return len(got) != stopAfter
		})
		return got, err
	}
	cases := []struct {
		name       string
		from, to   uint64
		limit      int
		stop       int
		want       []uint64
		wantErrAny bool
	}{
		{name: "all", from: 1, to: 20, limit: 100, want: seqs(1, 20)},
		{name: "middle", from: 5, to: 8, limit: 100, want: seqs(5, 8)},
		{name: "limit", from: 3, to: 20, limit: 4, want: seqs(3, 6)},
		{name: "fn stops", from: 3, to: 20, limit: 100, stop: 2, want: seqs(3, 4)},
		{name: "below and above", from: 0, to: math.MaxUint64, limit: 100, want: seqs(1, 20)},
		{name: "past the end", from: 21, to: 30, limit: 100},
		{name: "one", from: 20, to: 20, limit: 1, want: seqs(20, 20)},
		{name: "from above to", from: 5, to: 4, limit: 10, wantErrAny: true},
		{name: "zero limit", from: 1, to: 4, limit: 0, wantErrAny: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := collect(c.from, c.to, c.limit, c.stop)
			if (err != nil) != c.wantErrAny {
				t.Fatalf("err %v, want error %v", err, c.wantErrAny)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestMarkPublished(t *testing.T) {
	dir := t.TempDir()
	o := mustOpen(t, dir, Options{NoSync: true})
	fill(t, o, 1, 10)
	if err := o.MarkPublished(11); !errors.Is(err, ErrOrder) {
		t.Fatalf("MarkPublished above Last: %v, want ErrOrder", err)
	}
	for _, step := range []struct{ mark, want uint64 }{{3, 3}, {7, 7}, {5, 7}, {10, 10}, {0, 10}} {
		if err := o.MarkPublished(step.mark); err != nil {
			t.Fatal(err)
		}
		if got := o.Published(); got != step.want {
			t.Fatalf("after MarkPublished(%d): Published %d, want %d", step.mark, got, step.want)
		}
	}
	o.Close()
	o = mustOpen(t, dir, Options{NoSync: true})
	if o.Published() != 10 {
		t.Fatalf("after reopen: Published %d, want 10", o.Published())
	}
}

func TestDamagedPublishedMark(t *testing.T) {
	dir := t.TempDir()
	o := mustOpen(t, dir, Options{NoSync: true})
	fill(t, o, 1, 10)
	o.MarkPublished(8)
	o.Close()
	name := filepath.Join(dir, publishedName)
	b, _ := os.ReadFile(name)
	b[3] ^= 1
	os.WriteFile(name, b, 0o600)
	log, lb := newLog()
	o = mustOpen(t, dir, Options{NoSync: true, Logger: log})
	if o.Published() != 0 || o.Last() != 10 {
		t.Fatalf("Published %d Last %d, want 0 (republish all) and 10", o.Published(), o.Last())
	}
	if !strings.Contains(lb.String(), "published mark is damaged") {
		t.Fatalf("damage not logged:\n%s", lb)
	}
}

func TestLostRecordsKeepNumbering(t *testing.T) {
	// Records the fabric acknowledged are lost from disk (here: the last
	// segment deleted). Their seqs must not be handed out again.
	dir := t.TempDir()
	opt := Options{SegmentBytes: 4 << 10, NoSync: true}
	o := mustOpen(t, dir, opt)
	fill(t, o, 1, 40)
	o.MarkPublished(40)
	o.Close()
	files := segFiles(t, dir)
	os.Remove(files[len(files)-1])
	log, lb := newLog()
	opt.Logger = log
	o = mustOpen(t, dir, opt)
	if o.Last() != 40 {
		t.Fatalf("Last %d, want 40 (the published mark)", o.Last())
	}
	if err := o.Append(40, recTime(40), payload(40)); !errors.Is(err, ErrOrder) {
		t.Fatalf("Append(40) = %v, want ErrOrder", err)
	}
	fill(t, o, 41, 41)
	if !strings.Contains(lb.String(), "lost records") {
		t.Fatalf("loss not logged:\n%s", lb)
	}
}

func TestLock(t *testing.T) {
	dir := t.TempDir()
	o := mustOpen(t, dir, Options{NoSync: true})
	if _, err := Open(dir, Options{NoSync: true}); !errors.Is(err, ErrInUse) {
		t.Fatalf("second Open: %v, want ErrInUse", err)
	}
	o.Close()
	o2 := mustOpen(t, dir, Options{NoSync: true})
	o2.Close()
}

func TestClosed(t *testing.T) {
	o := mustOpen(t, t.TempDir(), Options{NoSync: true})
	fill(t, o, 1, 3)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := o.Append(4, recTime(4), payload(4)); !errors.Is(err, ErrClosed) {
		t.Errorf("Append: %v", err)
	}
	if err := o.MarkPublished(1); !errors.Is(err, ErrClosed) {
		t.Errorf("MarkPublished: %v", err)
	}
	if err := o.Trim(recTime(0)); !errors.Is(err, ErrClosed) {
		t.Errorf("Trim: %v", err)
	}
	if err := o.Range(1, 3, 3, func(uint64, []byte) bool { return true }); !errors.Is(err, ErrClosed) {
		t.Errorf("Range: %v", err)
	}
	if _, ok := o.Get(1); ok {
		t.Errorf("Get found a record")
	}
}

func TestOptions(t *testing.T) {
	for _, opt := range []Options{{SegmentBytes: 100}, {SegmentBytes: 1 << 30}, {MaxBytes: -1}, {MaxAge: -time.Second}} {
		if o, err := Open(t.TempDir(), opt); err == nil {
			o.Close()
			t.Errorf("Open with %+v succeeded", opt)
		}
	}
}

// threeRecords writes seqs 1..3 and returns the directory and the span of
// record 3.
func threeRecords(t *testing.T, n uint64) (dir, path string, off, end int64) {
	dir = t.TempDir()
	o := mustOpen(t, dir, Options{NoSync: true})
	fill(t, o, 1, n)
	path, off, end = recordSpan(t, o, n)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, filepath.Base(path), off, end
}

func TestTornTail(t *testing.T) {
	src, seg, off, end := threeRecords(t, 3)
	if fi, _ := os.Stat(filepath.Join(src, seg)); fi.Size() != end {
		t.Fatalf("record 3 ends at %d, file at %d", end, fi.Size())
	}
	for cut := off; cut < end; cut++ {
		dir := copyDir(t, src)
		if err := os.Truncate(filepath.Join(dir, seg), cut); err != nil {
			t.Fatal(err)
		}
		log, lb := newLog()
		o, err := Open(dir, Options{NoSync: true, Logger: log})
		if err != nil {
			t.Fatalf("cut at %d: Open: %v", cut, err)
		}
		if o.Last() != 2 {
			t.Fatalf("cut at %d: Last %d, want 2", cut, o.Last())
		}
		checkStored(t, o, seqs(1, 2))
		if cut > off && !strings.Contains(lb.String(), "torn or damaged tail") {
			t.Fatalf("cut at %d: the cut was not logged:\n%s", cut, lb)
		}
		if fi, _ := os.Stat(filepath.Join(dir, seg)); fi.Size() != off {
			t.Fatalf("cut at %d: file is %d bytes after Open, want %d (cut at the last good record)", cut, fi.Size(), off)
		}
		fill(t, o, 3, 4)
		o.Close()
		o = mustOpen(t, dir, Options{NoSync: true})
		checkStored(t, o, seqs(1, 4))
		o.Close()
	}
}

func TestBitFlipLastRecord(t *testing.T) {
	src, seg, off, end := threeRecords(t, 3)
	for i := off; i < end; i++ {
		for _, bit := range []uint{0, 3, 7} {
			dir := copyDir(t, src)
			flip(t, filepath.Join(dir, seg), i, bit)
			o, err := Open(dir, Options{NoSync: true})
			if err != nil {
				t.Fatalf("flip at %d: Open: %v", i, err)
			}
			if o.Last() != 2 {
				t.Fatalf("flip at byte %d bit %d: Last %d, want 2", i, bit, o.Last())
			}
			checkStored(t, o, seqs(1, 2))
			fill(t, o, 3, 3)
			o.Close()
		}
	}
}

func TestBitFlipMiddleRecord(t *testing.T) {
	dir0 := t.TempDir()
	o := mustOpen(t, dir0, Options{NoSync: true})
	fill(t, o, 1, 5)
	path, off, end := recordSpan(t, o, 3)
	o.Close()
	seg := filepath.Base(path)
	for i := off; i < end; i++ {
		dir := copyDir(t, dir0)
		flip(t, filepath.Join(dir, seg), i, uint(i%8))
		log, lb := newLog()
		o, err := Open(dir, Options{NoSync: true, Logger: log})
		if err != nil {
			t.Fatalf("flip at %d: Open: %v", i, err)
		}
		if o.Last() != 5 {
			t.Fatalf("flip at %d: Last %d, want 5", i, o.Last())
		}
		checkStored(t, o, []uint64{1, 2, 4, 5})
		if !strings.Contains(lb.String(), "damaged bytes") {
			t.Fatalf("flip at %d: damage not logged:\n%s", i, lb)
		}
		fill(t, o, 6, 6)
		o.Close()
		o = mustOpen(t, dir, Options{NoSync: true})
		checkStored(t, o, []uint64{1, 2, 4, 5, 6})
		o.Close()
	}
}

func TestDamagedRun(t *testing.T) {
	// Records 3 to 6 of 10 zeroed out, in a segment that is not the last.
	dir := t.TempDir()
	opt := Options{SegmentBytes: 8 << 10, NoSync: true}
	o := mustOpen(t, dir, opt)
	fill(t, o, 1, 60)
	path, off, _ := recordSpan(t, o, 3)
	path6, _, end := recordSpan(t, o, 6)
	o.Close()
	if path != path6 || path == segFiles(t, dir)[len(segFiles(t, dir))-1] {
		t.Fatalf("records 3 to 6 are not together in an early segment")
	}
	f, _ := os.OpenFile(path, os.O_RDWR, 0)
	f.WriteAt(make([]byte, end-off), off)
	f.Close()
	o = mustOpen(t, dir, opt)
	want := append(seqs(1, 2), seqs(7, 60)...)
	checkStored(t, o, want)
	if o.Last() != 60 {
		t.Fatalf("Last %d, want 60", o.Last())
	}
}

func TestBitFlipHeader(t *testing.T) {
	src, seg, _, _ := threeRecords(t, 3)
	for i := int64(0); i < headerSize; i++ {
		dir := copyDir(t, src)
		flip(t, filepath.Join(dir, seg), i, uint(i%8))
		log, lb := newLog()
		o, err := Open(dir, Options{NoSync: true, Logger: log})
		if err != nil {
			t.Fatalf("flip at %d: Open: %v", i, err)
		}
		checkStored(t, o, nil)
		if _, err := os.Stat(filepath.Join(dir, seg+".corrupt")); err != nil {
			t.Fatalf("flip at %d: damaged segment not set aside: %v", i, err)
		}
		if !strings.Contains(lb.String(), "header is damaged") {
			t.Fatalf("flip at %d: not logged:\n%s", i, lb)
		}
		fill(t, o, 1, 2) // nothing was published: numbering may start over
		o.Close()
	}
}

func TestDamageAfterOpen(t *testing.T) {
	dir := t.TempDir()
	log, lb := newLog()
	o := mustOpen(t, dir, Options{NoSync: true, Logger: log})
	fill(t, o, 1, 3)
	path, off, _ := recordSpan(t, o, 2)
	flip(t, path, off+recHeaderSize, 0)
	if d, ok := o.Get(2); ok {
		t.Fatalf("Get returned a record that fails its checksum: %q", d)
	}
	var got []uint64
	o.Range(1, 3, 10, func(seq uint64, _ []byte) bool { got = append(got, seq); return true })
	if fmt.Sprint(got) != "[1 3]" {
		t.Fatalf("Range gave %v, want [1 3]", got)
	}
	if !strings.Contains(lb.String(), "cannot be read back") {
		t.Fatalf("not logged:\n%s", lb)
	}
}

func TestStaleTempSegment(t *testing.T) {
	dir := t.TempDir()
	tmp := filepath.Join(dir, segmentName(1)+".tmp")
	os.WriteFile(tmp, []byte("half a header"), 0o600)
	o := mustOpen(t, dir, Options{NoSync: true})
	fill(t, o, 1, 2)
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale temporary segment still there: %v", err)
	}
}

func flip(t testing.TB, path string, off int64, bit uint) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], off); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	b[0] ^= 1 << bit
	if _, err := f.WriteAt(b[:], off); err != nil {
		t.Fatal(err)
	}
}

func TestTrim(t *testing.T) {
	day := 24 * time.Hour
	base := recTime(0)
	// Records 1..100, record i at base + i hours; 4 KiB segments hold
	// about 22 of them (payload averages 160 bytes). Trim drops whole
	// segments, so where the records left start is known only within a
	// segment's length; the bounds say what Trim must and must not drop.
	at := func(seq uint64) time.Time { return base.Add(time.Duration(seq) * time.Hour) }
	cases := []struct {
		name      string
		opt       Options
		published uint64
		now       time.Time
		// the lowest seq left must lie in [firstMin, firstMax]
		firstMin, firstMax uint64
	}{
		{name: "nothing old, small", opt: Options{}, published: 100, now: at(100), firstMin: 1, firstMax: 1},
		{name: "by age", opt: Options{MaxAge: 8 * day}, published: 100, now: at(50).Add(8 * day), firstMin: 2, firstMax: 50},
		{name: "by age, unpublished", opt: Options{MaxAge: 8 * day}, published: 0, now: at(50).Add(8 * day), firstMin: 1, firstMax: 1},
		{name: "by age, published in part", opt: Options{MaxAge: 8 * day}, published: 45, now: at(100).Add(30 * day), firstMin: 2, firstMax: 46},
		{name: "by size", opt: Options{MaxBytes: 10 << 10}, published: 100, now: at(100), firstMin: 2, firstMax: 100},
		{name: "by size, published in part", opt: Options{MaxBytes: 10 << 10}, published: 45, now: at(100), firstMin: 2, firstMax: 46},
		{name: "everything old and published", opt: Options{MaxAge: day}, published: 100, now: at(100).Add(365 * day), firstMin: 2, firstMax: 100},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			c.opt.SegmentBytes = 4 << 10
			o := mustOpen(t, dir, c.opt)
			for seq := uint64(1); seq <= 100; seq++ {
				if err := o.Append(seq, at(seq), payload(seq)); err != nil {
					t.Fatal(err)
				}
			}
			if err := o.MarkPublished(c.published); err != nil {
				t.Fatal(err)
			}
			before := len(segFiles(t, dir))
			if err := o.Trim(c.now); err != nil {
				t.Fatal(err)
			}
			first := o.First()
			if first < c.firstMin || first > c.firstMax {
				t.Fatalf("first stored %d after Trim, want %d to %d", first, c.firstMin, c.firstMax)
			}
			if first > c.published+1 {
				t.Fatalf("Trim dropped unpublished records: first %d, published %d", first, c.published)
			}
			if o.Last() != 100 {
				t.Fatalf("Last %d, want 100", o.Last())
			}
			checkStored(t, o, seqs(first, 100))
			after := len(segFiles(t, dir))
			if first > 1 && after >= before {
				t.Fatalf("%d segment files before Trim, %d after", before, after)
			}
			if c.opt.MaxBytes > 0 && first > 1 && c.published == 100 {
				var total int64
				for _, f := range segFiles(t, dir) {
					fi, _ := os.Stat(f)
					total += fi.Size()
				}
				if total > c.opt.MaxBytes {
					t.Fatalf("%d bytes left, want at most %d", total, c.opt.MaxBytes)
				}
			}
			o.Close()
			o = mustOpen(t, dir, c.opt)
			if o.First() != first || o.Last() != 100 || o.Published() < c.published {
				t.Fatalf("after reopen: First %d Last %d Published %d, want %d, 100, ≥ %d", o.First(), o.Last(), o.Published(), first, c.published)
			}
			checkStored(t, o, seqs(first, 100))
		})
	}
}

func TestTrimKeepsLastSegment(t *testing.T) {
	dir := t.TempDir()
	opt := Options{SegmentBytes: 4 << 10, MaxAge: time.Hour, MaxBytes: 4 << 10, NoSync: true}
	o := mustOpen(t, dir, opt)
	fill(t, o, 1, 50)
	o.MarkPublished(50)
	if err := o.Trim(recTime(50).Add(1000 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	if len(segFiles(t, dir)) != 1 || o.Last() != 50 {
		t.Fatalf("%d segments, Last %d; want 1 and 50", len(segFiles(t, dir)), o.Last())
	}
	if _, ok := o.Get(50); !ok {
		t.Fatal("the last record is gone")
	}
	o.Close()
	o = mustOpen(t, dir, opt)
	if o.Last() != 50 {
		t.Fatalf("after reopen Last %d, want 50", o.Last())
	}
	fill(t, o, 51, 51)
}

func TestTrimWarnsWhenFull(t *testing.T) {
	log, lb := newLog()
	o := mustOpen(t, t.TempDir(), Options{SegmentBytes: 4 << 10, MaxBytes: 8 << 10, NoSync: true, Logger: log})
	fill(t, o, 1, 100)
	if err := o.Trim(recTime(100)); err != nil {
		t.Fatal(err)
	}
	checkStored(t, o, seqs(1, 100))
	if !strings.Contains(lb.String(), "over its size limit") {
		t.Fatalf("not logged:\n%s", lb)
	}
}

func TestConcurrentReaders(t *testing.T) {
	// Readers run while Append, MarkPublished and Trim change the
	// outbox; run with -race.
	o := mustOpen(t, t.TempDir(), Options{SegmentBytes: 4 << 10, MaxBytes: 16 << 10, NoSync: true})
	fill(t, o, 1, 10)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				last := o.Last()
				d, ok := o.Get(last)
				if !ok && o.First() > last {
					// Published and trimmed while this reader was
					// descheduled: gone for a good reason.
					continue
				}
				if !ok || !bytes.Equal(d, payload(last)) {
					t.Errorf("Get(Last()=%d) = %v", last, ok)
					return
				}
				o.Range(o.First(), last, 5, func(seq uint64, d []byte) bool {
					if !bytes.Equal(d, payload(seq)) {
						t.Errorf("seq %d: wrong data", seq)
					}
					return true
				})
			}
		}()
	}
	for seq := uint64(11); seq <= 300; seq++ {
		fill(t, o, seq, seq)
		o.MarkPublished(seq - 5)
		if seq%10 == 0 {
			if err := o.Trim(recTime(seq)); err != nil {
				t.Error(err)
			}
		}
	}
	close(done)
	wg.Wait()
}

func TestForgedRecordInData(t *testing.T) {
	// Report data carries attacker-written text. An attacker who predicts
	// the next seq could place a well-formed record in it, checksummed
	// without the segment's secret salt. When a crash tears the real
	// record after the forged bytes, Open's search for the next good
	// record must not take the forgery for one.
	dir := t.TempDir()
	o := mustOpen(t, dir, Options{NoSync: true})
	fill(t, o, 1, 1)
	var forged []byte
	for _, seed := range []uint32{0, crc32c([]byte{0, 0, 0, 0, 0, 0, 0, 0})} {
		forged = appendRecord(forged, seed, 2, recTime(2).UnixNano(), []byte("ban 192.0.2.1"))
	}
	data := append([]byte("evidence: "), forged...)
	data = append(data, " tail of the line"...)
	if err := o.Append(2, recTime(2), data); err != nil {
		t.Fatal(err)
	}
	path, off, _ := recordSpan(t, o, 2)
	o.Close()
	// Tear record 2 just after the forgeries.
	if err := os.Truncate(path, off+recHeaderSize+int64(len("evidence: ")+len(forged))); err != nil {
		t.Fatal(err)
	}
	o = mustOpen(t, dir, Options{NoSync: true})
	if o.Last() != 1 {
		d, _ := o.Get(o.Last())
		t.Fatalf("Last %d (%q), want 1: a forged record was taken for a real one", o.Last(), d)
	}
	checkStored(t, o, seqs(1, 1))
}

func crc32c(b []byte) uint32 { return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) }

// TestAppendJump: numbering may jump forward (a member whose outbox is
// behind what the fabric saw of it); the skipped seqs are absent, and the
// jump survives a reopen.
func TestAppendJump(t *testing.T) {
	dir := t.TempDir()
	o := mustOpen(t, dir, Options{NoSync: true})
	fill(t, o, 1, 3)
	if err := o.Append(10, recTime(10), payload(10)); err != nil {
		t.Fatalf("Append(10) after 3: %v", err)
	}
	if err := o.Append(11, recTime(11), payload(11)); err != nil {
		t.Fatal(err)
	}
	check := func(o *Outbox) {
		t.Helper()
		if o.Last() != 11 {
			t.Fatalf("Last() = %d, want 11", o.Last())
		}
		for seq := uint64(1); seq <= 11; seq++ {
			data, ok := o.Get(seq)
			want := seq <= 3 || seq >= 10
			if ok != want || ok && string(data) != string(payload(seq)) {
				t.Fatalf("Get(%d) = %q, %v; want present %v", seq, data, ok, want)
			}
		}
	}
	check(o)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	check(mustOpen(t, dir, Options{NoSync: true}))
}

// Package replay runs the detection pipeline over finished files or standard
// input and writes what it found as JSON lines: `phalanx replay`. It owns the
// output format of that command (DESIGN.md's command-line contract) and the
// progress display. It must not start services, touch the network, or keep
// state between runs.
package replay

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"phalanx/pipeline"
	"phalanx/source"
)

// Options say what to replay and where to write.
type Options struct {
	Pipeline pipeline.Config
	Events   bool           // print events instead of alerts and decisions
	Files    []string       // "-" is standard input
	Stdin    io.Reader      // read for "-"
	Stdout   io.Writer      // JSON lines
	Progress io.Writer      // where a progress bar goes; nil for none
	Location *time.Location // zone of year-less timestamps; nil for time.Local
	MaxLine  int            // longest line accepted; 0 for 64 KiB
	Now      time.Time      // reference for year inference on standard input; zero for the current time
	// Year is the year of the first year-less timestamp of every input
	// (--year); 0 infers it: from a file's modification time, or for
	// standard input the newest year that puts no line in the future.
	Year int
}

// Summary is the closing record of a replay.
type Summary struct {
	pipeline.Counters
	Seconds float64
	Sources int // tracked source groups when the replay ended
}

// maxInputs bounds the files of one replay (a deferred pipeline numbers its
// streams in 16 bits).
const maxInputs = 1<<16 - 1

// DefaultMaxLine is the longest line replay reads; longer lines are skipped and counted.
const DefaultMaxLine = 64 << 10

// Run replays opts.Files through one pipeline, so evidence adds up across
// files. Lines are judged by their written times in time order, whatever the
// order of the files and of the lines in them (rotations in any order, hosts
// with skewed clocks merged into one file): every event is read first, then
// judged. It writes one JSON object per event (with Events, in input order)
// or per alert and decision, then the summary.
func Run(ctx context.Context, opts Options) (Summary, error) {
	start := time.Now()
	if len(opts.Files) == 0 {
		return Summary{}, errors.New("nothing to replay: name one or more files, or - for standard input")
	}
	if len(opts.Files) > maxInputs {
		return Summary{}, fmt.Errorf("%d inputs: replay at most %d at once (concatenate them, in any order, into fewer files)", len(opts.Files), maxInputs)
	}
	if opts.MaxLine <= 0 {
		opts.MaxLine = DefaultMaxLine
	}
	if opts.Now.IsZero() {
		opts.Now = start
	}
	out := bufio.NewWriterSize(opts.Stdout, 64<<10)
	sink := &jsonSink{w: out, events: opts.Events}
	p, err := pipeline.New(opts.Pipeline, sink)
	if err != nil {
		return Summary{}, err
	}
	p.Defer()
	inputs, total, err := openAll(opts.Files, opts.Stdin, &opts.Pipeline)
	if err != nil {
		return Summary{}, err
	}
	defer func() {
		for _, in := range inputs {
			in.Close()
		}
	}()

	var prog *progress
	if opts.Progress != nil {
		prog = startProgress(opts.Progress, total, start)
		defer prog.stop()
	}
	var base int64
	for _, in := range inputs {
		sink.files = append(sink.files, in.name)
		ref := in.mtime
		if ref.IsZero() {
			ref = opts.Now
		}
		if err := replayOne(ctx, p, in, ref, opts, prog, base); err != nil {
			return Summary{}, err
		}
		base += in.size
	}
	p.Finish()
	if sink.err != nil {
		return Summary{}, fmt.Errorf("write output: %w", sink.err)
	}
	sum := Summary{Counters: p.Counters(), Seconds: time.Since(start).Seconds(), Sources: p.Engine().Stats().Sources}
	if prog != nil {
		prog.stop()
	}
	sink.summary(&sum)
	if err := out.Flush(); err != nil {
		return sum, fmt.Errorf("write output: %w", err)
	}
	if sink.err != nil {
		return sum, fmt.Errorf("write output: %w", sink.err)
	}
	return sum, nil
}

type input struct {
	name    string
	service string // declared with SERVICE:PATH; "" when the lines say
	r       io.Reader
	c       io.Closer
	size    int64
	mtime   time.Time
}

func (in *input) Close() {
	if in.c != nil {
		in.c.Close()
	}
}

// openAll opens every input up front, so a missing file fails the run before
// any output is written.
func openAll(names []string, stdin io.Reader, pc *pipeline.Config) ([]*input, int64, error) {
	var ins []*input
	var total int64
	for _, text := range names {
		sp, err := source.ParseSpec(text, fileExists)
		if err == nil && sp.Kind != source.KindFile {
			err = fmt.Errorf("source %q: replay reads files and standard input; for the journal, pipe it in: journalctl -o short-iso ... | phalanx replay -", text)
		}
		if err == nil && sp.Service != "" {
			if e := pc.CheckService(sp.Service); e != nil {
				err = fmt.Errorf("source %q: %w", text, e)
			}
		}
		if err != nil {
			for _, in := range ins {
				in.Close()
			}
			return nil, 0, err
		}
		name := sp.Target
		if name == "-" {
			if stdin == nil {
				stdin = os.Stdin
			}
			ins = append(ins, &input{name: "-", service: sp.Service, r: stdin, size: -1})
			total = -1
			continue
		}
		f, err := os.Open(name)
		if err != nil {
			for _, in := range ins {
				in.Close()
			}
			return nil, 0, fmt.Errorf("open log file: %w", err)
		}
		in := &input{name: name, service: sp.Service, r: f, c: f}
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			in.size, in.mtime = st.Size(), st.ModTime()
			if total >= 0 {
				total += in.size
			}
		} else {
			in.size = -1
			total = -1
		}
		ins = append(ins, in)
	}
	return ins, total, nil
}

func replayOne(ctx context.Context, p *pipeline.Pipeline, in *input, ref time.Time, opts Options, prog *progress, base int64) error {
	st := p.NewStream(ref, opts.Location)
	if opts.Year != 0 {
		st.SetYear(opts.Year)
	}
	if in.service != "" {
		if err := st.SetService(in.service); err != nil {
			return err
		}
	}
	rd := source.NewReader(in.r, opts.MaxLine)
	for n := 0; ; n++ {
		line, err := rd.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return fmt.Errorf("read %s: %w", in.name, err)
		}
		st.Line(line, rd.Line())
		if n&8191 == 0 {
			if prog != nil {
				prog.set(base+rd.Offset(), p.Counters().Lines)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	p.CountOverlong(rd.Skipped())
	if prog != nil {
		prog.set(base+rd.Offset(), p.Counters().Lines)
	}
	return nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// progress draws a bar on a terminal from counters the replay loop updates.
type progress struct {
	w     io.Writer
	total int64
	start time.Time
	bytes atomic.Int64
	lines atomic.Int64
	done  chan struct{}
	ended chan struct{}
	once  atomic.Bool
}

func startProgress(w io.Writer, total int64, start time.Time) *progress {
	pr := &progress{w: w, total: total, start: start, done: make(chan struct{}), ended: make(chan struct{})}
	go pr.loop()
	return pr
}

func (pr *progress) set(bytes, lines int64) {
	pr.bytes.Store(bytes)
	pr.lines.Store(lines)
}

func (pr *progress) stop() {
	if pr.once.Swap(true) {
		return
	}
	close(pr.done)
	<-pr.ended
}

func (pr *progress) loop() {
	defer close(pr.ended)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	drawn := false
	for {
		select {
		case <-pr.done:
			if drawn {
				fmt.Fprint(pr.w, "\r\033[K")
			}
			return
		case now := <-t.C:
			el := now.Sub(pr.start)
			// Small inputs finish before a bar would help.
			if el < time.Second {
				continue
			}
			fmt.Fprint(pr.w, "\r\033[K"+progressLine(pr.bytes.Load(), pr.total, pr.lines.Load(), el))
			drawn = true
		}
	}
}

// progressLine renders one status line: a bar and percentage when the total
// size is known, bytes read, lines per second and the time left.
func progressLine(done, total, lines int64, elapsed time.Duration) string {
	rate := float64(lines) / elapsed.Seconds()
	s := ""
	if total > 0 {
		frac := float64(done) / float64(total)
		frac = min(max(frac, 0), 1)
		const width = 30
		fill := int(frac * width)
		bar := make([]byte, width)
		for i := range bar {
			if i < fill {
				bar[i] = '='
			} else {
				bar[i] = ' '
			}
		}
		s = fmt.Sprintf("[%s] %3.0f%% %s/%s", bar, frac*100, mib(done), mib(total))
	} else {
		s = mib(done)
	}
	s += fmt.Sprintf("  %.0fk lines/s", rate/1000)
	if total > 0 && done > 0 && done < total {
		left := time.Duration(float64(elapsed) * float64(total-done) / float64(done))
		s += "  ETA " + left.Round(time.Second).String()
	}
	return s
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

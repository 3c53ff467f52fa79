package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"phalanx/pipeline"
	"phalanx/source"
)

// defaultLogs are the sshd log files watched when none is configured.
var defaultLogs = []string{"/var/log/auth.log", "/var/log/secure"}

// sources tails the configured log files and feeds their lines to the
// pipeline, remembering each file's position across restarts.
type sources struct {
	log   *slog.Logger
	path  string // positions file
	files []*tailed

	mu  sync.Mutex
	pos map[string]source.Position
}

type tailed struct {
	path    string
	service string
}

func openSources(dataDir string, specs []string, log *slog.Logger) (*sources, error) {
	s := &sources{log: log, path: filepath.Join(dataDir, filePositions), pos: map[string]source.Position{}}
	if b, err := os.ReadFile(s.path); err == nil {
		if err := json.Unmarshal(b, &s.pos); err != nil {
			log.Warn("ignoring unreadable tail positions; files are read from their end", "path", s.path, "err", err)
			s.pos = map[string]source.Position{}
		}
	}
	if len(specs) == 0 {
		for _, p := range defaultLogs {
			if _, err := os.Stat(p); err == nil {
				specs = append(specs, p)
			}
		}
		if len(specs) == 0 {
			log.Warn("watching no log file: none of the usual sshd logs exists; give --source PATH or daemon.sources in the config", "looked_for", strings.Join(defaultLogs, ", "))
		}
	}
	seen := map[string]bool{}
	for _, spec := range specs {
		service, path := "sshd", spec
		if i := strings.IndexByte(spec, ':'); i > 0 && !strings.Contains(spec[:i], "/") {
			service, path = spec[:i], spec[i+1:]
		}
		if service != "sshd" {
			return nil, fmt.Errorf("source %q: unknown service %q (known: sshd)", spec, service)
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("source %q: %w", spec, err)
		}
		if seen[abs] {
			continue
		}
		seen[abs] = true
		s.files = append(s.files, &tailed{path: abs, service: service})
	}
	return s, nil
}

// paths lists the tailed files.
func (s *sources) paths() []string {
	var out []string
	for _, f := range s.files {
		out = append(out, f.path)
	}
	return out
}

func (s *sources) run(ctx context.Context, d *Daemon) {
	var wg sync.WaitGroup
	for _, f := range s.files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.follow(ctx, d, f)
		}()
	}
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-t.C:
			// Positions move on only while no report is waiting for the
			// fabric: after a crash, lines whose reports were not stored are
			// read again, so their decisions are made again.
			if d.inflight.Load() == 0 {
				s.savePositions()
			}
		}
	}
}

func (s *sources) follow(ctx context.Context, d *Daemon, f *tailed) {
	s.mu.Lock()
	start, ok := s.pos[f.path]
	s.mu.Unlock()
	opt := source.TailOptions{Logger: s.log.With("source", f.path)}
	if !ok {
		// First time this file is watched: begin at its current end (old
		// lines are history, not attacks in progress) and remember that
		// place at once, so a crash before the first line loses nothing.
		// A file that is empty or missing is read from its start.
		if end, err := source.EndPosition(f.path); err == nil && end.Offset > 0 {
			start, ok = end, true
			s.mu.Lock()
			s.pos[f.path] = end
			s.mu.Unlock()
			s.savePositions()
		} else {
			opt.FromStart = true
		}
	}
	if ok {
		opt.Start = &start
	}
	t, err := source.OpenTail(f.path, opt)
	if err != nil {
		s.log.Error("cannot tail log file", "path", f.path, "err", err)
		return
	}
	defer t.Close()
	s.log.Info("watching log file", "path", f.path, "service", f.service)
	var (
		pipe   *pipeline.Pipeline
		stream *pipeline.Stream
		n      int
		lines  = d.met.lines.WithLabelValues(f.path)
	)
	for {
		line, pos, err := t.Next(ctx)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, source.ErrClosed) {
				s.log.Error("tail stopped", "path", f.path, "err", err)
			}
			return
		}
		d.pipeMu.Lock()
		if d.pipe != pipe || n&1023 == 0 {
			if d.pipe != pipe {
				pipe = d.pipe
				stream = pipe.NewStream(d.now(), nil)
			} else {
				stream.SetReference(d.now())
			}
		}
		d.lineRead = time.Now()
		stream.LineAt(line, pos.Line, d.now())
		d.pipeMu.Unlock()
		lines.Inc()
		n++
		s.mu.Lock()
		s.pos[f.path] = pos
		s.mu.Unlock()
	}
}

func (s *sources) savePositions() {
	s.mu.Lock()
	b, err := json.MarshalIndent(s.pos, "", "  ")
	s.mu.Unlock()
	if err != nil {
		return
	}
	if err := writeFileAtomic(s.path, b, 0o600); err != nil {
		s.log.Warn("save tail positions", "err", err)
	}
}

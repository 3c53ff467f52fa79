package fabric

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

const (
	// keepFirstWait and keepMaxWait pace keepStream's attempts while the
	// cluster forms; members come up minutes apart, so it never gives up.
	keepFirstWait = 250 * time.Millisecond
	keepMaxWait   = 5 * time.Second
	// JetStream API error codes keepStream acts on.
	errNoPeers        = 10005 // no suitable peers for placement
	errInsufficient   = 10023 // insufficient resources
	errStreamExists   = 10058 // stream name already in use with a different configuration
	readyPollInterval = 100 * time.Millisecond
	readyFirstAttempt = 500 * time.Millisecond // Ready's first ask; each next one waits twice as long, up to apiTimeout
)

// keepStream creates the stream once the cluster has a JetStream meta
// leader, with as many replicas as the cluster can place (at most the
// wanted replicas), and updates it until it has the wanted replicas. Then
// it waits for SetReplicas to want another number, until Close. Every
// member runs it; creating or updating to the same configuration twice is
// harmless. It never lowers the stream's replicas to Options.Replicas (a
// member that starts with an old charter must not shrink the stream);
// only SetReplicas lowers them.
func (f *Fabric) keepStream() {
	for {
		f.reachReplicas()
		select {
		case <-f.life.Done():
			return
		case <-f.kick:
		}
	}
}

// reachReplicas tries until the stream has the wanted replicas or the
// Fabric is closed.
func (f *Fabric) reachReplicas() {
	wait := keepFirstWait
	began := time.Now()
	var lastErr string
	for {
		cfg, lower := f.wantedStream()
		want := cfg.Replicas
		have, err := f.ensureStream(f.life, cfg, lower)
		if f.closed() {
			return
		}
		if err == nil && (have == want || have > want && !lower) {
			f.log.Info("fabric stream ready", "stream", StreamName, "replicas", have,
				"took", time.Since(began).Round(time.Millisecond))
			return
		}
		switch {
		case err != nil && err.Error() != lastErr:
			lastErr = err.Error()
			f.log.Debug("fabric stream not ready yet (waiting for members to join)", "replicas", have, "want", want, "err", err)
		case err == nil && have > 0:
			f.log.Debug("fabric stream has fewer replicas than wanted (waiting for members to join)", "replicas", have, "want", want)
		}
		t := time.NewTimer(wait)
		select {
		case <-f.life.Done():
			t.Stop()
			return
		case <-f.kick:
			t.Stop()
			wait = keepFirstWait // SetReplicas: try the new number at once
			continue
		case <-t.C:
		}
		wait = min(2*wait, keepMaxWait)
	}
}

// wantedStream returns the stream configuration wanted now, and whether
// SetReplicas asked for it (only then may the replicas be lowered).
func (f *Fabric) wantedStream() (jetstream.StreamConfig, bool) {
	f.cfgMu.Lock()
	defer f.cfgMu.Unlock()
	return f.streamCfg, f.lowerReplicas
}

// SetReplicas changes how many members keep a copy of the stream while
// the Fabric runs (the alliance grew from one member to three, say); n is
// clamped to 1 to 5. The Fabric updates the stream in the background, as
// soon as the cluster can place that many replicas (see Options.Replicas);
// lowering works too. Members should agree on n: each updates the stream
// to its own number. Without Options.Cluster the stream has one copy and
// SetReplicas only logs a warning for n above 1.
func (f *Fabric) SetReplicas(n int) {
	n = min(max(n, 1), maxReplicas)
	if !f.clustered {
		if n > 1 {
			f.log.Warn("fabric is not clustered: the stream keeps one copy", "replicas", n)
		}
		return
	}
	f.cfgMu.Lock()
	changed := f.streamCfg.Replicas != n || !f.lowerReplicas
	f.streamCfg.Replicas = n
	f.lowerReplicas = true
	f.cfgMu.Unlock()
	if changed {
		select {
		case f.kick <- struct{}{}:
		default: // keepStream has a kick pending already
		}
	}
}

// ensureStream makes one attempt to create or update the stream to cfg
// (keeping more replicas than cfg's unless lower). It returns the stream's
// replicas afterwards (0 when there is no stream).
func (f *Fabric) ensureStream(ctx context.Context, cfg jetstream.StreamConfig, lower bool) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	s, err := f.js.Stream(ctx, StreamName)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return f.createReplicated(ctx, cfg)
	}
	if err != nil {
		return 0, fmt.Errorf("read stream %s: %w", StreamName, err)
	}
	cur := s.CachedInfo().Config
	if cur.Replicas > cfg.Replicas && !lower {
		cfg.Replicas = cur.Replicas
	}
	want := cfg.Replicas
	if cur.Replicas == want && sameConfig(cur, cfg) {
		return want, nil
	}
	if _, err := f.adminJS.UpdateStream(ctx, cfg); err == nil {
		f.log.Info("fabric stream updated", "stream", StreamName, "replicas", want, "was", cur.Replicas)
		return want, nil
	} else if sameConfig(cur, cfg) {
		return cur.Replicas, fmt.Errorf("update stream %s to %d replicas: %w", StreamName, want, err)
	}
	// Apply the rest of the configuration at least.
	cfg.Replicas = cur.Replicas
	if _, err := f.adminJS.UpdateStream(ctx, cfg); err != nil {
		return cur.Replicas, fmt.Errorf("update stream %s: %w", StreamName, err)
	}
	return cur.Replicas, fmt.Errorf("update stream %s to %d replicas: not yet possible", StreamName, want)
}

// createReplicated creates the stream with want replicas, or with fewer
// when the cluster cannot place that many yet.
func (f *Fabric) createReplicated(ctx context.Context, cfg jetstream.StreamConfig) (int, error) {
	want := cfg.Replicas
	for r := want; r >= 1; r-- {
		cfg.Replicas = r
		_, err := f.adminJS.CreateStream(ctx, cfg)
		if err == nil {
			f.log.Info("fabric stream created", "stream", StreamName, "replicas", r, "want", want)
			return r, nil
		}
		var apiErr *jetstream.APIError
		if !errors.As(err, &apiErr) {
			return 0, fmt.Errorf("create stream %s: %w", StreamName, err)
		}
		switch apiErr.ErrorCode {
		case errNoPeers, errInsufficient:
			continue // too few members for r replicas: try fewer
		case errStreamExists:
			return 0, nil // another member was quicker; the next pass updates it
		}
		return 0, fmt.Errorf("create stream %s with %d replicas: %w", StreamName, r, err)
	}
	return 0, fmt.Errorf("create stream %s: the cluster cannot place even one replica", StreamName)
}

// sameConfig reports whether a and b agree on everything streamConfig sets
// except the replicas.
func sameConfig(a, b jetstream.StreamConfig) bool {
	return a.Description == b.Description && slices.Equal(a.Subjects, b.Subjects) &&
		a.Storage == b.Storage && a.Retention == b.Retention && a.Discard == b.Discard &&
		a.MaxAge == b.MaxAge && a.MaxMsgSize == b.MaxMsgSize && a.Duplicates == b.Duplicates &&
		a.MaxMsgs == b.MaxMsgs && a.MaxBytes == b.MaxBytes && a.ConsumerLimits == b.ConsumerLimits
}

// briefly calls req with a deadline of readyFirstAttempt, and again with
// twice as long each time, while req fails only because its own deadline
// passed and ctx has time left (ctx must end). A JetStream API request
// lost while the cluster settles (a stream just given more copies, a
// member just restarted) is otherwise waited out whole: such a loss kept
// a restarted member from serving for 5 s in TestDamagedStoreComesBack.
// req must be safe to repeat.
func briefly(ctx context.Context, req func(context.Context) error) error {
	for attempt := readyFirstAttempt; ; attempt = min(2*attempt, apiTimeout) {
		actx, cancel := context.WithTimeout(ctx, attempt)
		err := req(actx)
		cancel()
		if err == nil || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
	}
}

// Ready waits until the stream can be used through this member: for a
// clustered Fabric, until the cluster has elected a JetStream meta leader,
// the stream exists and has a leader. Start alone does not wait for that,
// since it needs a majority of the members. Ready returns at once for a
// Fabric that is not clustered.
func (f *Fabric) Ready(ctx context.Context) error {
	var lastErr error
	// A request sent before this server reaches the meta leader (its
	// routes still dialing after a start) is never answered: the first
	// asks wait briefly, later ones up to apiTimeout (a loaded machine).
	attempt := readyFirstAttempt
	for {
		if f.closed() {
			return ErrClosed
		}
		if f.storeDisabled() {
			return ErrStoreDisabled
		}
		actx, cancel := context.WithTimeout(ctx, attempt)
		s, err := f.js.Stream(actx, StreamName)
		cancel()
		attempt = min(2*attempt, apiTimeout)
		if err == nil {
			info := s.CachedInfo()
			if info.Cluster == nil || info.Cluster.Leader != "" {
				return nil
			}
			err = errors.New("stream has no leader yet")
		}
		lastErr = err
		t := time.NewTimer(readyPollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("fabric stream %s not ready: %w (last error: %w); check that a majority of the members' servers are up and reach each other's cluster addresses", StreamName, ctx.Err(), lastErr)
		case <-f.life.Done():
			t.Stop()
			return ErrClosed
		case <-t.C:
		}
	}
}

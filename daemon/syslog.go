package daemon

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"

	"phalanx/source"
	"phalanx/source/syslog"
)

// maxSyslogStreams bounds the senders that get a pipeline stream of their
// own (sshd's connection state is kept per stream, so senders do not mix);
// further senders share one.
const maxSyslogStreams = 1024

// received is a syslog: source: a receiver bound when the daemon starts.
type received struct {
	text string
	r    *syslog.Receiver
	log  *slog.Logger

	mu      sync.Mutex
	streams map[netip.Addr]*feeder
	shared  *feeder
}

func newReceived(sp source.Spec, o sourceOptions, log *slog.Logger) (*received, error) {
	ss, err := syslog.ParseSpec(sp.Target)
	if err != nil {
		return nil, err
	}
	r, err := syslog.Listen(syslog.Options{Spec: ss, Allow: o.syslogAllow, Rate: o.syslogRate, Logger: log})
	if err != nil {
		return nil, err
	}
	// The address bound (a port 0 becomes the port the kernel chose).
	text := "syslog:" + ss.Network + "://" + r.Addr().String()
	return &received{text: text, r: r, log: log, streams: map[netip.Addr]*feeder{}}, nil
}

func (rc *received) run(ctx context.Context, d *Daemon) {
	rc.log.Info("receiving syslog", "source", rc.text)
	lines := d.met.lines.WithLabelValues(rc.text)
	err := rc.r.Run(ctx, func(m *syslog.Message) {
		rc.senderOf(d, m.From.Addr()).line(m.Line, 0)
		lines.Inc()
	})
	if err != nil && ctx.Err() == nil {
		rc.log.Error("syslog receiver stopped", "source", rc.text, "err", err)
	}
}

// senderOf returns the stream of a sending address.
func (rc *received) senderOf(d *Daemon, a netip.Addr) *feeder {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if s := rc.streams[a]; s != nil {
		return s
	}
	if len(rc.streams) >= maxSyslogStreams {
		if rc.shared == nil {
			rc.shared = &feeder{d: d, via: "syslog from one of many senders", counts: d.srcs.counters(rc.text)}
		}
		return rc.shared
	}
	s := &feeder{d: d, via: "syslog from " + a.String(), counts: d.srcs.counters(rc.text)}
	rc.streams[a] = s
	return s
}

func (rc *received) close() { rc.r.Close() }

// stats are the receiver's counters.
func (rc *received) stats() map[string]int64 {
	st := rc.r.Stats()
	return map[string]int64{"lines": st.Lines, "oversize": st.Oversize, "rate_dropped": st.RateDropped,
		"framing_errors": st.Framing, "partial": st.Partial, "connections": st.Conns, "refused_connections": st.Refused,
		"idle_closed": st.IdleClosed, "denied": st.Denied, "read_errors": st.ReadErrors, "kernel_drops": st.KernelDrops}
}

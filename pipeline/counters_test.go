package pipeline_test

import (
	"fmt"
	"testing"
	"time"

	"phalanx/pipeline"
)

// TestStreamCounters: each source's events and skipped lines are counted
// apart (the console shows them per source), and add up to the pipeline's.
func TestStreamCounters(t *testing.T) {
	rec := &recorder{}
	p, err := pipeline.New(pipeline.DefaultConfig(), rec)
	if err != nil {
		t.Fatal(err)
	}
	var authC, junkC pipeline.StreamCounters
	auth := p.NewStream(ref, time.UTC)
	auth.SetCounters(&authC)
	junk := p.NewStream(ref, time.UTC)
	junk.SetCounters(&junkC)
	for i := range 3 {
		auth.Line([]byte(fmt.Sprintf("%s web1 sshd[%d]: Failed password for root from 198.51.100.7 port 4%d ssh2",
			ref.Format(time.Stamp), 100+i, i)), int64(i+1))
	}
	junk.Line([]byte("\x00\x01 not a log line"), 1)
	junk.Line([]byte(ref.Format(time.Stamp)+" web1 sshd[9]: Failed password for \xff\xfe from 198.51.100.8 port 1 ssh2"), 2)
	if authC.Events != 3 || len(authC.Skipped()) != 0 {
		t.Errorf("auth.log: %d events, skipped %v; want 3 and none", authC.Events, authC.Skipped())
	}
	if junkC.Events != 0 || junkC.Skipped()[pipeline.SkipFormat] != 1 || junkC.Skipped()[pipeline.SkipEncoding] != 1 {
		t.Errorf("junk: %d events, skipped %v; want none and one format, one encoding", junkC.Events, junkC.Skipped())
	}
	c := p.Counters()
	if c.Events != authC.Events+junkC.Events || c.Skipped[pipeline.SkipFormat] != 1 || c.Skipped[pipeline.SkipEncoding] != 1 {
		t.Errorf("pipeline: %d events, skipped %v", c.Events, c.Skipped)
	}
}

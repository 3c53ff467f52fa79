package replay

import (
	"strings"
	"testing"
	"time"
)

func TestProgressLine(t *testing.T) {
	got := progressLine(50<<20, 100<<20, 2_000_000, 2*time.Second)
	for _, want := range []string{"50%", "50.0 MiB/100.0 MiB", "1000k lines/s", "ETA 2s", "[" + strings.Repeat("=", 15)} {
		if !strings.Contains(got, want) {
			t.Errorf("progress line %q lacks %q", got, want)
		}
	}
	// Unknown total (standard input): no bar, no ETA.
	got = progressLine(10<<20, -1, 100_000, time.Second)
	if strings.Contains(got, "ETA") || strings.Contains(got, "[") || !strings.Contains(got, "10.0 MiB") {
		t.Errorf("stdin progress line %q", got)
	}
}

package daemon

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDashboardNamesRealMetrics keeps dist/grafana-dashboard.json in step
// with the daemon: every metric it queries must be one the daemon exports.
func TestDashboardNamesRealMetrics(t *testing.T) {
	b, err := os.ReadFile("../dist/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("metrics.go")
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`phalanx_[a-z_]+`).FindAllString(string(b), -1)
	if len(names) < 5 {
		t.Fatalf("the dashboard queries only %v", names)
	}
	for _, n := range names {
		base := strings.TrimSuffix(n, "_bucket")
		if !strings.Contains(string(src), `"`+base+`"`) {
			t.Errorf("the dashboard queries %s, which the daemon does not export", n)
		}
	}
}

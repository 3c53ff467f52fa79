package config

import (
	"strings"
	"testing"
)

// TestFabricCA: daemon.fabric_ca and fabric_cert go together.
func TestFabricCA(t *testing.T) {
	for _, tt := range []struct {
		yaml string
		ok   bool
	}{
		{"daemon:\n  fabric_ca: /etc/phalanx/ca.pem\n  fabric_cert: /etc/phalanx/fabric.pem\n", true},
		{"daemon:\n  fabric_ca: /etc/phalanx/ca.pem\n", false},
		{"daemon:\n  fabric_cert: /etc/phalanx/fabric.pem\n", false},
	} {
		f := Default()
		err := Decode([]byte(tt.yaml), &f)
		if (err == nil) != tt.ok || err != nil && !strings.Contains(err.Error(), "daemon: fabric_ca, fabric_cert: give both") {
			t.Errorf("%q: %v, want accepted %v", tt.yaml, err, tt.ok)
		}
	}
}

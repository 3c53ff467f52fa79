package fabric

import (
	"errors"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// TestPermanent: which store answers end a publish and which are retried.
// A duplicate id still in process (an earlier attempt of the same message
// that a slow store has not finished) is retried: giving up there lost a
// report under load.
func TestPermanent(t *testing.T) {
	f := &Fabric{dataDir: t.TempDir(), leaf: true} // a leaf: no server of its own to ask
	tests := []struct {
		name  string
		err   error
		retry bool
	}{
		{"duplicate in process", &jetstream.APIError{Code: 409, ErrorCode: errDuplicateInProcess, Description: "duplicate message id is in process"}, true},
		{"a timeout", errors.New("nats: timeout"), true},
		{"wrong stream", &jetstream.APIError{Code: 400, ErrorCode: 10060, Description: "expected stream does not match"}, false},
		{"store full", &jetstream.APIError{Code: 503, ErrorCode: errInsufficient}, false},
	}
	for _, tt := range tests {
		if got := f.permanent(tt.err); (got == nil) != tt.retry {
			t.Errorf("%s: permanent = %v, want retry %v", tt.name, got, tt.retry)
		}
	}
}

package identity

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestLoadOrCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "identity.key")
	id, created, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	if !created {
		t.Fatal("first call: created = false")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode %04o, want 0600", perm)
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if perm := di.Mode().Perm(); perm != 0o700 {
		t.Errorf("created directory mode %04o, want 0700", perm)
	}
	if id.ID != MemberID(id.Public) || !IsID(id.ID) {
		t.Errorf("ID %q does not match the public key", id.ID)
	}
	msg := []byte("report body")
	if !ed25519.Verify(id.Public, msg, id.Sign(msg)) {
		t.Error("signature does not verify under the public key")
	}

	again, created, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	if created {
		t.Error("second call: created = true")
	}
	if again.ID != id.ID || !again.Public.Equal(id.Public) {
		t.Errorf("reloaded identity %s differs from created %s", again.ID, id.ID)
	}
	if !ed25519.Verify(id.Public, msg, again.Sign(msg)) {
		t.Error("reloaded key signs differently")
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the key file (temporary file left behind?)", len(entries))
	}
}

func TestLoadOrCreateConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "identity.key")
	const n = 8
	ids := make([]string, n)
	errs := make([]error, n)
	createdCount := 0
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, created, err := LoadOrCreate(path)
			errs[i] = err
			if err == nil {
				ids[i] = id.ID
			}
			if created {
				mu.Lock()
				createdCount++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Errorf("caller %d got %s, caller 0 got %s: two keys for one file", i, ids[i], ids[0])
		}
	}
	if createdCount != 1 {
		t.Errorf("%d callers report creating the key, want exactly 1", createdCount)
	}
}

func writeKey(t *testing.T, data []byte, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "identity.key")
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // despite the umask
		t.Fatal(err)
	}
	return path
}

func validPEM(t *testing.T) []byte {
	t.Helper()
	id, err := FromSeed(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	data, err := encode(id)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestLoadRefusesExposedKey(t *testing.T) {
	for _, mode := range []os.FileMode{0o640, 0o604, 0o644, 0o660, 0o602, 0o610} {
		t.Run(fmt.Sprintf("%04o", mode), func(t *testing.T) {
			path := writeKey(t, validPEM(t), mode)
			_, _, err := LoadOrCreate(path)
			if err == nil {
				t.Fatal("loaded a key file that group or others may access")
			}
			if !strings.Contains(err.Error(), "chmod 600") {
				t.Errorf("error does not say what to do: %v", err)
			}
			after, _ := os.ReadFile(path)
			if !bytes.Equal(after, validPEM(t)) {
				t.Error("the refused key file was changed")
			}
		})
	}
	for _, mode := range []os.FileMode{0o600, 0o400} {
		path := writeKey(t, validPEM(t), mode)
		if _, _, err := LoadOrCreate(path); err != nil {
			t.Errorf("mode %04o: %v", mode, err)
		}
	}
}

func TestLoadRefusesMalformed(t *testing.T) {
	good := validPEM(t)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(good)
	cases := map[string][]byte{
		"empty":          {},
		"garbage":        []byte("not a key\n"),
		"raw seed":       bytes.Repeat([]byte{1}, 32),
		"two blocks":     append(append([]byte{}, good...), good...),
		"trailing text":  append(append([]byte{}, good...), "extra\n"...),
		"wrong type":     pem.EncodeToMemory(&pem.Block{Type: "OPENSSH PRIVATE KEY", Bytes: block.Bytes}),
		"ecdsa key":      pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: ecDER}),
		"truncated DER":  pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: block.Bytes[:len(block.Bytes)-3]}),
		"headers":        pem.EncodeToMemory(&pem.Block{Type: pemType, Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: block.Bytes}),
		"too long":       append(bytes.Repeat([]byte("\n"), maxKeyFile), good...),
		"public key pem": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: block.Bytes}),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			path := writeKey(t, data, 0o600)
			_, created, err := LoadOrCreate(path)
			if err == nil {
				t.Fatal("loaded a malformed key file")
			}
			if created {
				t.Error("created = true")
			}
			if !strings.Contains(err.Error(), "move it away") {
				t.Errorf("error does not say what to do: %v", err)
			}
			after, _ := os.ReadFile(path)
			if !bytes.Equal(after, data) {
				t.Error("the malformed key file was replaced")
			}
		})
	}
	// Leading and trailing white space is fine.
	path := writeKey(t, append(append([]byte("\n  \n"), good...), "\n\n"...), 0o600)
	if _, _, err := LoadOrCreate(path); err != nil {
		t.Errorf("white space around the PEM block: %v", err)
	}
}

func TestLoadRefusesDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "identity.key")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreate(path); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("err = %v, want a refusal of the directory", err)
	}
}

func TestMemberID(t *testing.T) {
	// Member IDs are written into charters: they must never change. The
	// expected ID was computed outside Go, with sha256sum over the public
	// key of seed 00 01 .. 1f (RFC 8032 derivation).
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(i)
	}
	id, err := FromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	const wantPub = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
	if got := hex.EncodeToString(id.Public); got != wantPub {
		t.Fatalf("public key %s, want %s", got, wantPub)
	}
	if id.ID != "m56475aa75463474c" {
		t.Errorf("MemberID = %q, want %q", id.ID, "m56475aa75463474c")
	}

	seen := map[string]bool{}
	for i := range 1000 {
		seed[0], seed[1] = byte(i), byte(i>>8)
		other, err := FromSeed(seed)
		if err != nil {
			t.Fatal(err)
		}
		if !IsID(other.ID) {
			t.Fatalf("MemberID %q is not an ID", other.ID)
		}
		if seen[other.ID] {
			t.Fatalf("two keys share ID %s", other.ID)
		}
		seen[other.ID] = true
	}
}

func TestIsID(t *testing.T) {
	cases := map[string]bool{
		"m0123456789abcdef":  true,
		"m0123456789ABCDEF":  false,
		"x0123456789abcdef":  false,
		"m0123456789abcde":   false,
		"m0123456789abcdef0": false,
		"m0123456789abcdeg":  false,
		"":                   false,
		"m":                  false,
	}
	for s, want := range cases {
		if got := IsID(s); got != want {
			t.Errorf("IsID(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestFromSeed(t *testing.T) {
	if _, err := FromSeed(make([]byte, 31)); err == nil {
		t.Error("accepted a 31-byte seed")
	}
	a, _ := FromSeed(bytes.Repeat([]byte{1}, 32))
	b, _ := FromSeed(bytes.Repeat([]byte{1}, 32))
	if a.ID != b.ID {
		t.Error("one seed gave two identities")
	}
}

func TestPrintingHidesPrivateKey(t *testing.T) {
	id, err := FromSeed(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	seedHex := hex.EncodeToString(id.private.Seed())
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{id, *id} {
			out := fmt.Sprintf(format, v)
			if strings.Contains(out, seedHex) || strings.Contains(out, fmt.Sprint([]byte(id.private))) || strings.Contains(out, fmt.Sprint(id.private[0:4])) {
				t.Errorf("%s of %T shows the private key: %s", format, v, out)
			}
			if !strings.Contains(out, id.ID) {
				t.Errorf("%s of %T = %q, want the ID", format, v, out)
			}
		}
	}
}

func TestZeroIdentityCannotSign(t *testing.T) {
	var id Identity
	if sig := id.Sign([]byte("x")); sig != nil {
		t.Errorf("zero identity signed: %x", sig)
	}
	var nilID *Identity
	if sig := nilID.Sign([]byte("x")); sig != nil {
		t.Errorf("nil identity signed: %x", sig)
	}
}

func TestSeed(t *testing.T) {
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	id, err := FromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	got := id.Seed()
	if !bytes.Equal(got, seed) {
		t.Fatalf("Seed() = %x, want %x", got, seed)
	}
	got[0] ^= 1
	if !bytes.Equal(id.Seed(), seed) {
		t.Fatal("Seed() returned the identity's own buffer")
	}
	if (&Identity{}).Seed() != nil {
		t.Fatal("zero identity has a seed")
	}
}

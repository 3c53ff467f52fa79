package charter

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// MaxBouncers bounds the alliance-wide bouncer keys a charter lists.
const MaxBouncers = 1024

// maxBouncerName is the longest bouncer name, as for a member's own keys.
const maxBouncerName = 64

// Bouncer is an alliance-wide bouncer key: every member accepts, on its
// bouncer API, the key whose SHA-256 is SHA256, as the bouncer Name.
//
// The charter holds only the hash, and a plain SHA-256 is enough: the keys
// are 32 random bytes (phalanx makes them), so no dictionary or brute force
// reaches one from its hash, and a slow salted hash, which protects
// guessable secrets such as passwords, would only slow every bouncer
// request. The charter is readable on every member; the key is not in it.
type Bouncer struct {
	Name   string `yaml:"name"`   // as a member's own bouncer names: ASCII letters, digits and . _ - @ :
	SHA256 string `yaml:"sha256"` // 64 lowercase hex digits
}

// Sum returns the raw hash, false when SHA256 is not 64 lowercase hex
// digits (Validate refuses such a charter).
func (b Bouncer) Sum() (sum [32]byte, ok bool) {
	if len(b.SHA256) != 64 || strings.ToLower(b.SHA256) != b.SHA256 {
		return sum, false
	}
	n, err := hex.Decode(sum[:], []byte(b.SHA256))
	return sum, err == nil && n == len(sum)
}

// Bouncer returns the alliance bouncer named name.
func (c *Charter) Bouncer(name string) (Bouncer, bool) {
	i := slices.IndexFunc(c.Bouncers, func(b Bouncer) bool { return b.Name == name })
	if i < 0 {
		return Bouncer{}, false
	}
	return c.Bouncers[i], true
}

// AddBouncer returns the charter that follows c with b added (version plus
// one), without changing c. It refuses a name or key already listed and a
// result that does not validate.
func (c *Charter) AddBouncer(b Bouncer) (Charter, error) {
	if _, ok := c.Bouncer(b.Name); ok {
		return Charter{}, fmt.Errorf("an alliance bouncer named %q exists; delete it first (phalanx bouncers delete --alliance %s) or choose another name", b.Name, b.Name)
	}
	next := *c
	next.Bouncers = append(slices.Clone(c.Bouncers), b)
	next.Version++
	if err := next.Validate(); err != nil {
		return Charter{}, fmt.Errorf("the amended charter would be invalid: %w", err)
	}
	return next, nil
}

// RemoveBouncer returns the charter that follows c without the alliance
// bouncer named name (version plus one), without changing c.
func (c *Charter) RemoveBouncer(name string) (Charter, error) {
	i := slices.IndexFunc(c.Bouncers, func(b Bouncer) bool { return b.Name == name })
	if i < 0 {
		return Charter{}, fmt.Errorf("no alliance bouncer named %q (phalanx bouncers list shows them)", name)
	}
	next := *c
	next.Bouncers = slices.Delete(slices.Clone(c.Bouncers), i, i+1)
	if len(next.Bouncers) == 0 {
		next.Bouncers = nil
	}
	next.Version++
	if err := next.Validate(); err != nil {
		return Charter{}, fmt.Errorf("the amended charter would be invalid: %w", err)
	}
	return next, nil
}

// validateBouncers appends what is wrong with the bouncers section.
func (c *Charter) validateBouncers(errs *[]error) {
	bad := func(format string, args ...any) { *errs = append(*errs, fmt.Errorf(format, args...)) }
	if n := len(c.Bouncers); n > MaxBouncers {
		bad("bouncers: %d keys, the limit is %d; delete unused ones (phalanx bouncers delete --alliance NAME)", n, MaxBouncers)
	}
	names := make(map[string]int, len(c.Bouncers))
	sums := make(map[string]int, len(c.Bouncers))
	for i, b := range c.Bouncers {
		where := fmt.Sprintf("bouncers[%d]", i)
		if err := checkBouncerName(b.Name); err != nil {
			bad("%s: name: %w", where, err)
		} else {
			where = fmt.Sprintf("bouncers[%d] (%s)", i, b.Name)
		}
		if j, dup := names[b.Name]; dup {
			bad("%s: the name is already bouncers[%d]; list each bouncer once", where, j)
		}
		names[b.Name] = i
		if _, ok := b.Sum(); !ok {
			bad("%s: sha256 must be 64 lowercase hex digits, the SHA-256 of the key; add the bouncer again with phalanx bouncers add --alliance", where)
		} else if j, dup := sums[b.SHA256]; dup {
			bad("%s: the same key as bouncers[%d]; give each bouncer its own key", where, j)
		}
		sums[b.SHA256] = i
	}
}

// checkBouncerName accepts what a member's own bouncer names accept: 1 to
// 64 ASCII letters, digits and . _ - @ :, starting with a letter or digit.
func checkBouncerName(name string) error {
	if name == "" || len(name) > maxBouncerName {
		return fmt.Errorf("must be 1 to %d characters long", maxBouncerName)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || !strings.ContainsRune("._-@:", rune(c))) {
			return fmt.Errorf("%q: use ASCII letters, digits and . _ - @ : only, starting with a letter or digit", name)
		}
	}
	return nil
}

// appendBouncersHash appends the bouncers section's canonical encoding, a
// set sorted by name; nothing when there is none, so that charters written
// before the section keep their hash.
func (c *Charter) appendBouncersHash(b []byte) []byte {
	if len(c.Bouncers) == 0 {
		return b
	}
	bs := slices.Clone(c.Bouncers)
	slices.SortFunc(bs, func(x, y Bouncer) int { return strings.Compare(x.Name, y.Name) })
	b = append(b, "bouncers v1\x00"...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(bs)))
	for _, x := range bs {
		b = appendString(b, x.Name)
		if sum, ok := x.Sum(); ok {
			b = appendString(b, string(sum[:]))
		} else {
			b = appendString(b, "\xff"+x.SHA256) // only in charters Validate refuses
		}
	}
	return b
}

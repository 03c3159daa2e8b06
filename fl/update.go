package fl

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/srellama/srellama/nft"
)

// Limits enforced by DecodeUpdate, so that a hostile peer cannot make a node
// allocate unbounded memory.
const (
	MaxFeatures    = 1 << 16
	MaxNameLen     = 256
	MaxUpdateBytes = 16 << 20
)

// updateMagic starts every encoded update: "SLFU" followed by version 1.
var updateMagic = [5]byte{'S', 'L', 'F', 'U', 1}

// LocalMetrics are what an organization reports about its update, for the
// ledger (records.LocalMetrics) and the dashboards; aggregation ignores
// them. AUC and F1 are measured on the organization's own held-out rows
// (0 when it has none).
type LocalMetrics struct {
	Loss      float64 `json:"loss"`
	AUC       float64 `json:"auc"`
	F1        float64 `json:"f1"`
	Positives uint64  `json:"positives"`
}

// Update is one organization's model after local training in one round.
// Features are canonical names sorted ascending; Weights[i] belongs to
// Features[i] and is a coefficient on the federally standardized feature.
type Update struct {
	Org       string       `json:"org"`
	Round     uint32       `json:"round"`
	Features  []string     `json:"features"`
	Weights   []float64    `json:"weights"`
	Intercept float64      `json:"intercept"`
	Samples   uint64       `json:"samples"`
	Metrics   LocalMetrics `json:"metrics"`
}

// Validate checks the invariants every consumer relies on.
func (u *Update) Validate() error {
	switch {
	case u.Org == "" || len(u.Org) > MaxNameLen:
		return fmt.Errorf("update: organization name must be 1..%d bytes", MaxNameLen)
	case len(u.Features) == 0:
		return errors.New("update: no features")
	case len(u.Features) > MaxFeatures:
		return fmt.Errorf("update: %d features exceed the limit %d", len(u.Features), MaxFeatures)
	case len(u.Weights) != len(u.Features):
		return fmt.Errorf("update from %s: %d weights for %d features", u.Org, len(u.Weights), len(u.Features))
	case u.Samples == 0:
		return fmt.Errorf("update from %s: zero samples", u.Org)
	}
	for i, f := range u.Features {
		if f == "" || len(f) > MaxNameLen {
			return fmt.Errorf("update from %s: feature %d: name must be 1..%d bytes", u.Org, i, MaxNameLen)
		}
		if i > 0 && u.Features[i-1] >= f {
			return fmt.Errorf("update from %s: features not strictly sorted at %q", u.Org, f)
		}
	}
	for i, w := range u.Weights {
		if !isFinite(w) {
			return fmt.Errorf("update from %s: weight of %s is %v", u.Org, u.Features[i], w)
		}
	}
	if !isFinite(u.Intercept) {
		return fmt.Errorf("update from %s: intercept is %v", u.Org, u.Intercept)
	}
	if !isFinite(u.Metrics.Loss) || !isFinite(u.Metrics.AUC) || !isFinite(u.Metrics.F1) {
		return fmt.Errorf("update from %s: local metrics must be finite", u.Org)
	}
	return nil
}

// Encode returns the canonical binary form: magic and version, then
// little-endian fields in a fixed order (round u32, samples u64, org, feature
// count u32, names, intercept and weights as IEEE-754 float64, loss, AUC,
// F1, positives). Strings are a u16 length followed by UTF-8 bytes. Equal
// updates encode to equal bytes, which is what Digest relies on.
func (u *Update) Encode() ([]byte, error) {
	if err := u.Validate(); err != nil {
		return nil, err
	}
	size := len(updateMagic) + 4 + 8 + 2 + len(u.Org) + 4 + 8*(len(u.Weights)+1) + 8*4
	for _, f := range u.Features {
		size += 2 + len(f)
	}
	b := make([]byte, 0, size)
	b = append(b, updateMagic[:]...)
	b = binary.LittleEndian.AppendUint32(b, u.Round)
	b = binary.LittleEndian.AppendUint64(b, u.Samples)
	b = appendString(b, u.Org)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(u.Features)))
	for _, f := range u.Features {
		b = appendString(b, f)
	}
	b = appendFloat(b, u.Intercept)
	for _, w := range u.Weights {
		b = appendFloat(b, w)
	}
	b = appendFloat(b, u.Metrics.Loss)
	b = appendFloat(b, u.Metrics.AUC)
	b = appendFloat(b, u.Metrics.F1)
	b = binary.LittleEndian.AppendUint64(b, u.Metrics.Positives)
	return b, nil
}

// Digest is "sha256:<64 lowercase hex>" of the canonical encoding, the same
// format as nft.DigestBytes, so ledgers and peers can name an update.
func (u *Update) Digest() (string, error) {
	b, err := u.Encode()
	if err != nil {
		return "", err
	}
	return nft.DigestBytes(b), nil
}

// DecodeUpdate parses and validates an encoded update. It refuses oversize
// input, truncation, trailing bytes, non-finite numbers and unsorted or
// duplicate feature names.
func DecodeUpdate(b []byte) (*Update, error) {
	if len(b) > MaxUpdateBytes {
		return nil, fmt.Errorf("decode update: %d bytes exceed the limit %d", len(b), MaxUpdateBytes)
	}
	r := reader{b: b}
	magic := r.bytes(len(updateMagic))
	if r.err == nil && !bytes.Equal(magic, updateMagic[:]) {
		return nil, errors.New("decode update: bad magic or unsupported version")
	}
	u := &Update{}
	u.Round = r.u32()
	u.Samples = r.u64()
	u.Org = r.str()
	n := r.u32()
	if r.err == nil && (n == 0 || n > MaxFeatures) {
		return nil, fmt.Errorf("decode update: feature count %d outside 1..%d", n, MaxFeatures)
	}
	// Each feature needs at least 2+1 name bytes and 8 weight bytes; refuse
	// counts the input cannot possibly hold before allocating for them.
	if r.err == nil && int(n)*11 > len(b)-r.off {
		return nil, fmt.Errorf("decode update: %d features cannot fit in %d bytes", n, len(b))
	}
	if r.err == nil {
		u.Features = make([]string, n)
		for i := range u.Features {
			u.Features[i] = r.str()
		}
		u.Intercept = r.f64()
		u.Weights = make([]float64, n)
		for i := range u.Weights {
			u.Weights[i] = r.f64()
		}
		u.Metrics.Loss = r.f64()
		u.Metrics.AUC = r.f64()
		u.Metrics.F1 = r.f64()
		u.Metrics.Positives = r.u64()
	}
	if r.err != nil {
		return nil, fmt.Errorf("decode update: %w", r.err)
	}
	if r.off != len(b) {
		return nil, fmt.Errorf("decode update: %d trailing bytes", len(b)-r.off)
	}
	if err := u.Validate(); err != nil {
		return nil, fmt.Errorf("decode update: %w", err)
	}
	return u, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func appendFloat(b []byte, f float64) []byte {
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
}

var errTruncated = errors.New("truncated input")

// reader consumes little-endian fields and remembers the first error, so the
// decoder reads straight through and checks once.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b)-r.off < n {
		r.err = errTruncated
		return nil
	}
	out := r.b[r.off : r.off+n]
	r.off += n
	return out
}

func (r *reader) u16() uint16 {
	if b := r.bytes(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if b := r.bytes(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if b := r.bytes(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (r *reader) f64() float64 { return math.Float64frombits(r.u64()) }

func (r *reader) str() string {
	n := int(r.u16())
	if r.err == nil && n > MaxNameLen {
		r.err = fmt.Errorf("string of %d bytes exceeds the limit %d", n, MaxNameLen)
		return ""
	}
	return string(r.bytes(n))
}

func isFinite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// sortedUnique reports whether names are strictly ascending.
func sortedUnique(names []string) bool {
	for i := 1; i < len(names); i++ {
		if names[i-1] >= names[i] {
			return false
		}
	}
	return true
}

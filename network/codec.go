package network

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/srellama/srellama/nft"
)

// Message is what travels on a round's topic: a member's update, carried
// inline when small, or announced by digest and size when large (peers then
// fetch it over a direct stream, so gossip's amplification does not copy
// megabytes to every mesh link).
type Message struct {
	RoundID string
	MSPID   string
	Digest  string // sha256:<hex> of the payload
	Payload []byte // nil for an announcement
	Size    int    // payload size; set for both forms
}

// Inline reports whether the message carries its payload.
func (m Message) Inline() bool { return m.Payload != nil }

// Limits of the wire format.
const (
	MaxIDLen      = 128
	MaxPayload    = 16 << 20
	messageMagic  = "SRL\x01"
	kindInline    = 1
	kindAnnounced = 2
)

// EncodeMessage writes a message in the binary wire format:
//
//	"SRL" 0x01 | kind | uvarint len, round ID | uvarint len, MSP ID |
//	32-byte digest | uvarint size | payload (inline only)
func EncodeMessage(m Message) ([]byte, error) {
	if err := checkIDs(m.RoundID, m.MSPID); err != nil {
		return nil, err
	}
	sum, err := digestBytes(m.Digest)
	if err != nil {
		return nil, err
	}
	if m.Size < 0 || m.Size > MaxPayload || (m.Inline() && len(m.Payload) != m.Size) {
		return nil, fmt.Errorf("message: size %d does not fit (payload %d bytes, limit %d)", m.Size, len(m.Payload), MaxPayload)
	}
	var b bytes.Buffer
	b.Grow(len(messageMagic) + 1 + 2*binary.MaxVarintLen64 + len(m.RoundID) + len(m.MSPID) + 32 + binary.MaxVarintLen64 + len(m.Payload))
	b.WriteString(messageMagic)
	if m.Inline() {
		b.WriteByte(kindInline)
	} else {
		b.WriteByte(kindAnnounced)
	}
	writeString(&b, m.RoundID)
	writeString(&b, m.MSPID)
	b.Write(sum)
	b.Write(binary.AppendUvarint(nil, uint64(m.Size)))
	b.Write(m.Payload)
	return b.Bytes(), nil
}

// DecodeMessage parses and checks a message: bounded fields, no trailing
// bytes, and for an inline message, a payload that hashes to its digest.
func DecodeMessage(data []byte) (Message, error) {
	r := bytes.NewReader(data)
	magic := make([]byte, len(messageMagic))
	if _, err := r.Read(magic); err != nil || string(magic) != messageMagic {
		return Message{}, errors.New("message: not an SRE-Llama round message")
	}
	kind, err := r.ReadByte()
	if err != nil || (kind != kindInline && kind != kindAnnounced) {
		return Message{}, errors.New("message: unknown kind")
	}
	var m Message
	if m.RoundID, err = readString(r); err != nil {
		return Message{}, fmt.Errorf("message: round ID: %w", err)
	}
	if m.MSPID, err = readString(r); err != nil {
		return Message{}, fmt.Errorf("message: MSP ID: %w", err)
	}
	if err := checkIDs(m.RoundID, m.MSPID); err != nil {
		return Message{}, err
	}
	sum := make([]byte, 32)
	if n, _ := r.Read(sum); n != 32 {
		return Message{}, errors.New("message: truncated digest")
	}
	m.Digest = nft.DigestPrefix + hex.EncodeToString(sum)
	size, err := binary.ReadUvarint(r)
	if err != nil || size > MaxPayload {
		return Message{}, fmt.Errorf("message: payload size missing or above %d bytes", MaxPayload)
	}
	m.Size = int(size)
	if kind == kindAnnounced {
		if r.Len() != 0 {
			return Message{}, errors.New("message: announcement carries trailing bytes")
		}
		return m, nil
	}
	if r.Len() != m.Size {
		return Message{}, fmt.Errorf("message: payload is %d bytes, header says %d", r.Len(), m.Size)
	}
	m.Payload = data[len(data)-m.Size:]
	if nft.DigestBytes(m.Payload) != m.Digest {
		return Message{}, errors.New("message: payload does not hash to its digest")
	}
	return m, nil
}

func checkIDs(roundID, mspID string) error {
	if roundID == "" || len(roundID) > MaxIDLen || mspID == "" || len(mspID) > MaxIDLen {
		return fmt.Errorf("message: round ID and MSP ID must be 1..%d bytes", MaxIDLen)
	}
	return nil
}

func digestBytes(d string) ([]byte, error) {
	if !nft.IsDigest(d) {
		return nil, fmt.Errorf("message: digest %q is not sha256:<64 hex>", d)
	}
	return hex.DecodeString(d[len(nft.DigestPrefix):])
}

func writeString(b *bytes.Buffer, s string) {
	b.Write(binary.AppendUvarint(nil, uint64(len(s))))
	b.WriteString(s)
}

func readString(r *bytes.Reader) (string, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil || n > MaxIDLen || int(n) > r.Len() {
		return "", errors.New("bad length")
	}
	buf := make([]byte, n)
	_, _ = r.Read(buf)
	return string(buf), nil
}

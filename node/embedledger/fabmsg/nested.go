package fabmsg

import "google.golang.org/protobuf/encoding/protowire"

// Fabric nests its transaction messages as bytes fields: the read-write
// set inside a chaincode action inside a response payload inside an action
// payload inside a transaction inside a payload. Marshalling each level
// with proto.Marshal copies everything below it once more per level; a
// transaction carrying a token's rules went through six copies of itself
// per endorsement. These builders write the nesting into one buffer sized
// in advance, producing the bytes proto.Marshal produces (fields in number
// order, empty proto3 bytes fields left out, message fields written even
// when empty), which the tests hold them to.

// field is one field of a nested message under construction: a bytes
// value, or a message made of further fields.
type field struct {
	num       protowire.Number
	bytes     []byte
	message   []field
	isMessage bool
	// omitEmpty leaves an empty bytes value out, as proto3 does for a
	// scalar bytes field; repeated and message fields are always written.
	omitEmpty bool
}

func bytesField(num protowire.Number, b []byte) field {
	return field{num: num, bytes: b, omitEmpty: true}
}

// elementField is one element of a repeated bytes or message field whose
// encoding is already at hand: written even when empty.
func elementField(num protowire.Number, b []byte) field { return field{num: num, bytes: b} }

func messageField(num protowire.Number, fields ...field) field {
	return field{num: num, message: fields, isMessage: true}
}

func (f field) skipped() bool { return !f.isMessage && f.omitEmpty && len(f.bytes) == 0 }

// contentSize is the size of the field's value without tag and length.
func (f field) contentSize() int {
	if !f.isMessage {
		return len(f.bytes)
	}
	return fieldsSize(f.message)
}

func fieldsSize(fields []field) int {
	n := 0
	for _, f := range fields {
		if f.skipped() {
			continue
		}
		n += protowire.SizeTag(f.num) + protowire.SizeBytes(f.contentSize())
	}
	return n
}

func appendFields(dst []byte, fields []field) []byte {
	for _, f := range fields {
		if f.skipped() {
			continue
		}
		dst = protowire.AppendTag(dst, f.num, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(f.contentSize()))
		if f.isMessage {
			dst = appendFields(dst, f.message)
		} else {
			dst = append(dst, f.bytes...)
		}
	}
	return dst
}

// marshalNested encodes a message made of fields into one buffer.
func marshalNested(fields ...field) []byte {
	return appendFields(make([]byte, 0, fieldsSize(fields)), fields)
}

package dbxcredv1lite

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	dbxcredv1 "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
)

// fill sets every field of m to a value that is not the default: negative
// numbers (sign extension), a second element in lists, nested messages.
func fill(m protoreflect.Message, depth int) {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.IsList() {
			l := m.Mutable(fd).List()
			for j := range 2 {
				l.Append(value(m, fd, depth, j, l.NewElement))
			}
			continue
		}
		if fd.Kind() == protoreflect.MessageKind && depth > 2 {
			continue
		}
		m.Set(fd, value(m, fd, depth, 0, func() protoreflect.Value { return m.NewField(fd) }))
	}
}

func value(m protoreflect.Message, fd protoreflect.FieldDescriptor, depth, j int, newElem func() protoreflect.Value) protoreflect.Value {
	n := int64(fd.Number()) + int64(j)
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(fmt.Sprintf("%s-%d é", fd.Name(), j))
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(true)
	case protoreflect.Int32Kind:
		return protoreflect.ValueOfInt32(int32(-n))
	case protoreflect.Int64Kind:
		return protoreflect.ValueOfInt64(-n << 40)
	case protoreflect.EnumKind:
		vals := fd.Enum().Values()
		return protoreflect.ValueOfEnum(vals.Get(vals.Len() - 1).Number())
	case protoreflect.MessageKind:
		v := newElem()
		fill(v.Message(), depth+1)
		return v
	}
	panic(fmt.Sprintf("%s: kind %s: extend fill", fd.FullName(), fd.Kind()))
}

// TestEveryMessageRoundTrips encodes each message with protoc-gen-go's
// code, decodes it with the lite codec, encodes it again, and decodes that
// with protoc-gen-go's code: nothing may be lost either way.
func TestEveryMessageRoundTrips(t *testing.T) {
	files := []protoreflect.FileDescriptor{dbxcredv1.File_dbxcred_v1_agent_proto}
	seen := 0
	for _, fd := range files {
		msgs := fd.Messages()
		for i := range msgs.Len() {
			name := string(msgs.Get(i).FullName())
			t.Run(name, func(t *testing.T) {
				roundTrip(t, name)
			})
			seen++
		}
	}
	roundTrip(t, "google.protobuf.Timestamp")
	roundTrip(t, "google.protobuf.Duration")
	if want := len(index()); seen+2 != want {
		t.Errorf("checked %d messages, the lite package has %d", seen+2, want)
	}
}

func roundTrip(t *testing.T, name string) {
	t.Helper()
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(name))
	if err != nil {
		t.Fatal(err)
	}
	newLite, ok := index()[name]
	if !ok {
		t.Fatalf("no lite message %s", name)
	}
	full := mt.New()
	fill(full, 0)
	wire, err := proto.Marshal(full.Interface())
	if err != nil {
		t.Fatal(err)
	}
	// An unknown varint and an unknown length-delimited field, as a newer
	// daemon would send: skipped.
	wire = protowire.AppendVarint(protowire.AppendTag(wire, 9001, protowire.VarintType), 7)
	wire = protowire.AppendString(protowire.AppendTag(wire, 9002, protowire.BytesType), "later")
	lite := newLite()
	if err := lite.UnmarshalWire(wire); err != nil {
		t.Fatalf("lite decode: %v", err)
	}
	back := mt.New()
	if err := proto.Unmarshal(lite.AppendWire(nil), back.Interface()); err != nil {
		t.Fatalf("decode the lite encoding: %v", err)
	}
	if !proto.Equal(full.Interface(), back.Interface()) {
		t.Errorf("lost in the round trip:\nsent %v\ngot  %v", full.Interface(), back.Interface())
	}
	// The empty message is empty both ways.
	if b := newLite().AppendWire(nil); len(b) != 0 {
		t.Errorf("an empty message encodes as %x", b)
	}
}

func TestWellKnownConversionsMatchTheirPackages(t *testing.T) {
	now := time.Date(2026, 12, 3, 17, 4, 5, 600, time.UTC)
	if got, want := NewTimestamp(now).AsTime(), timestamppb.New(now).AsTime(); !got.Equal(want) {
		t.Errorf("AsTime %v, want %v", got, want)
	}
	var nilTS *Timestamp
	var nilPB *timestamppb.Timestamp
	if nilTS.AsTime() != nilPB.AsTime() || nilTS.IsValid() || !NewTimestamp(now).IsValid() ||
		(&Timestamp{Seconds: 253402300800}).IsValid() || (&Timestamp{Nanos: -1}).IsValid() {
		t.Error("nil, range or validity differ from timestamppb")
	}
	for _, d := range []time.Duration{0, 90 * time.Second, -1500 * time.Millisecond, 1<<63 - 1} {
		if got, want := NewDuration(d).AsDuration(), durationpb.New(d).AsDuration(); got != want {
			t.Errorf("AsDuration(%v) = %v, want %v", d, got, want)
		}
	}
	var nilD *Duration
	if nilD.AsDuration() != 0 || (&Duration{Seconds: 1 << 62}).AsDuration() != 1<<63-1 {
		t.Error("nil or saturation differ from durationpb")
	}
}

// FuzzUnmarshal: no input makes a lite message panic or loop, and what it
// accepts re-encodes to something protoc-gen-go's code reads.
func FuzzUnmarshal(f *testing.F) {
	f.Add([]byte{0x0a, 0x03, 'a', 'b', 'c'})
	f.Add([]byte{0x1a, 0x80})
	f.Add([]byte{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{0x0b})
	names := make([]string, 0, len(index()))
	for n := range index() {
		names = append(names, n)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, n := range names {
			lite := index()[n]()
			if lite.UnmarshalWire(b) != nil {
				continue
			}
			mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(n))
			if err != nil {
				t.Fatal(err)
			}
			// Strings are not checked for UTF-8 by the lite codec; the
			// full one may refuse what it re-encodes, but never panic.
			_ = proto.Unmarshal(lite.AppendWire(nil), mt.New().Interface())
		}
	})
}

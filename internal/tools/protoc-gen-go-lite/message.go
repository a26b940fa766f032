package main

import (
	"fmt"

	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// wellKnown are the google.protobuf messages the lite package carries its
// own copies of.
var wellKnown = map[protoreflect.FullName]bool{
	"google.protobuf.Timestamp": true,
	"google.protobuf.Duration":  true,
}

// field is what the generator needs to know of one field.
type field struct {
	*protogen.Field
	goType string // the element type for a repeated field
	wire   string // the wire type: wireVarint or wireBytes (wire.lite.go)
}

func describe(f *protogen.Field, wkt map[protoreflect.FullName]*protogen.Message) (field, error) {
	d := f.Desc
	if d.HasPresence() && d.Kind() != protoreflect.MessageKind || d.IsMap() {
		return field{}, fmt.Errorf("protoc-gen-go-lite: %s: optional scalars and maps are not supported", d.FullName())
	}
	out := field{Field: f, wire: "wireVarint"}
	switch d.Kind() {
	case protoreflect.StringKind:
		out.goType, out.wire = "string", "wireBytes"
	case protoreflect.BoolKind:
		out.goType = "bool"
	case protoreflect.Int32Kind:
		out.goType = "int32"
	case protoreflect.Int64Kind:
		out.goType = "int64"
	case protoreflect.EnumKind:
		out.goType = f.Enum.GoIdent.GoName
	case protoreflect.MessageKind:
		if wellKnown[f.Message.Desc.FullName()] {
			wkt[f.Message.Desc.FullName()] = f.Message
		} else if f.Message.Desc.ParentFile().Package() != d.ParentFile().Package() {
			return field{}, fmt.Errorf("protoc-gen-go-lite: %s: messages of other packages are not supported", d.FullName())
		}
		out.goType, out.wire = "*"+f.Message.GoIdent.GoName, "wireBytes"
	default:
		return field{}, fmt.Errorf("protoc-gen-go-lite: %s: kind %s is not supported", d.FullName(), d.Kind())
	}
	if d.IsList() && out.wire != "wireBytes" {
		return field{}, fmt.Errorf("protoc-gen-go-lite: %s: repeated %s (packed) is not supported", d.FullName(), d.Kind())
	}
	return out, nil
}

func (f field) fullType() string {
	if f.Desc.IsList() {
		return "[]" + f.goType
	}
	return f.goType
}

func genMessage(g *protogen.GeneratedFile, m *protogen.Message, wkt map[protoreflect.FullName]*protogen.Message) error {
	fields := make([]field, 0, len(m.Fields))
	for _, f := range m.Fields {
		fd, err := describe(f, wkt)
		if err != nil {
			return err
		}
		fields = append(fields, fd)
	}
	name := m.GoIdent.GoName
	g.P("type ", name, " struct {")
	for _, f := range fields {
		g.P(f.GoName, " ", f.fullType())
	}
	g.P("}")
	g.P()
	for _, f := range fields {
		g.P("func (x *", name, ") Get", f.GoName, "() ", f.fullType(), " {")
		g.P("if x != nil {")
		g.P("return x.", f.GoName)
		g.P("}")
		g.P("return ", zero(f))
		g.P("}")
		g.P()
	}
	genAppend(g, name, fields)
	genUnmarshal(g, name, fields)
	return nil
}

func zero(f field) string {
	switch {
	case f.Desc.IsList() || f.Desc.Kind() == protoreflect.MessageKind:
		return "nil"
	case f.goType == "string":
		return `""`
	case f.goType == "bool":
		return "false"
	}
	return "0"
}

func genAppend(g *protogen.GeneratedFile, name string, fields []field) {
	g.P("// AppendWire appends x's protobuf encoding to b.")
	g.P("func (x *", name, ") AppendWire(b []byte) []byte {")
	g.P("if x == nil {")
	g.P("return b")
	g.P("}")
	for _, f := range fields {
		tag := fmt.Sprintf("b = appendTag(b, %d, %s)", f.Desc.Number(), f.wire)
		v := "x." + f.GoName
		if f.Desc.IsList() {
			g.P("for _, v := range ", v, " {")
			v = "v"
		} else {
			g.P("if ", v, " != ", zero(f), " {")
		}
		g.P(tag)
		switch {
		case f.Desc.Kind() == protoreflect.MessageKind:
			g.P("b = appendBytes(b, ", v, ".AppendWire(nil))")
		case f.goType == "string":
			g.P("b = appendString(b, ", v, ")")
		case f.goType == "bool":
			g.P("b = append(b, 1)") // only true is written
		default: // int32, int64 and enums: sign-extended, as protobuf does
			g.P("b = appendVarint(b, uint64(int64(", v, ")))")
		}
		g.P("}")
	}
	g.P("return b")
	g.P("}")
	g.P()
}

func genUnmarshal(g *protogen.GeneratedFile, name string, fields []field) {
	g.P("// UnmarshalWire merges the protobuf encoding b into x. Unknown fields,")
	g.P("// and known ones with an unexpected wire type, are skipped.")
	g.P("func (x *", name, ") UnmarshalWire(b []byte) error {")
	g.P("for len(b) > 0 {")
	g.P("num, typ, n, err := consumeTag(b)")
	g.P("if err != nil {")
	g.P("return err")
	g.P("}")
	g.P("b = b[n:]")
	g.P("switch {")
	for _, f := range fields {
		g.P("case num == ", f.Desc.Number(), " && typ == ", f.wire, ":")
		consume := "consumeVarint"
		if f.wire == "wireBytes" {
			consume = "consumeBytes"
		}
		g.P("v, n, err := ", consume, "(b)")
		g.P("if err != nil {")
		g.P("return err")
		g.P("}")
		g.P("b = b[n:]")
		genAssign(g, f)
	}
	g.P("default:")
	g.P("n, err := skipField(num, typ, b)")
	g.P("if err != nil {")
	g.P("return err")
	g.P("}")
	g.P("b = b[n:]")
	g.P("}")
	g.P("}")
	g.P("return nil")
	g.P("}")
	g.P()
}

func genAssign(g *protogen.GeneratedFile, f field) {
	dst := "x." + f.GoName
	if f.Desc.Kind() == protoreflect.MessageKind {
		elem := f.goType[1:]
		if f.Desc.IsList() {
			g.P("m := new(", elem, ")")
			g.P("if err := m.UnmarshalWire(v); err != nil {")
			g.P("return err")
			g.P("}")
			g.P(dst, " = append(", dst, ", m)")
			return
		}
		g.P("if ", dst, " == nil {")
		g.P(dst, " = new(", elem, ")")
		g.P("}")
		g.P("if err := ", dst, ".UnmarshalWire(v); err != nil {")
		g.P("return err")
		g.P("}")
		return
	}
	val := "v"
	switch f.goType {
	case "string":
		val = "string(v)"
	case "bool":
		val = "v != 0"
	default:
		val = f.goType + "(v)"
	}
	if f.Desc.IsList() {
		g.P(dst, " = append(", dst, ", ", val, ")")
		return
	}
	g.P(dst, " = ", val)
}

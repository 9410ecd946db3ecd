package rpc

import (
	"fmt"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// UnknownFieldsAt answers where m, named name, first carries fields this
// build does not know (a client built against a newer contract), at any
// depth: name itself or a path below it such as "name.rules[2].condition";
// "" when nowhere. Map values are not looked into. Services refuse such
// requests rather than drop what they cannot read.
func UnknownFieldsAt(name string, m protoreflect.Message) string {
	if !m.IsValid() {
		return ""
	}
	if len(m.GetUnknown()) > 0 {
		return name
	}
	var at string
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind {
			return true
		}
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len() && at == ""; i++ {
				at = UnknownFieldsAt(fmt.Sprintf("%s.%s[%d]", name, fd.Name(), i), l.Get(i).Message())
			}
		case fd.IsMap():
		default:
			at = UnknownFieldsAt(name+"."+string(fd.Name()), v.Message())
		}
		return at == ""
	})
	return at
}

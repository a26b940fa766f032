package helper

import (
	"reflect"
	"testing"

	agentgrpc "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1grpc"
)

// TestAgentMirrorsTheService holds the hand-written client to the
// generated one: same service name, and every method with the same
// request and response types, so a method added to the proto fails here
// until the helper can call it.
func TestAgentMirrorsTheService(t *testing.T) {
	if want := "/" + agentgrpc.AgentService_ServiceDesc.ServiceName + "/"; servicePrefix != want {
		t.Fatalf("servicePrefix is %q, the service is %q", servicePrefix, want)
	}
	gen := reflect.TypeFor[agentgrpc.AgentServiceClient]()
	ours := reflect.TypeFor[agent]()
	if gen.NumMethod() != ours.NumMethod() {
		t.Errorf("the service has %d methods, agent has %d", gen.NumMethod(), ours.NumMethod())
	}
	for i := range gen.NumMethod() {
		g := gen.Method(i)
		o, ok := ours.MethodByName(g.Name)
		if !ok {
			t.Errorf("agent has no method %s", g.Name)
			continue
		}
		// Generated: (ctx, *Req, ...grpc.CallOption) (*Resp, error).
		// Ours, with the receiver first: (agent, ctx, *Req) (*Resp, error),
		// where Req and Resp are the lite messages of the same names
		// (their wire compatibility is proto/dbxcred/v1/dbxcredv1lite's test).
		sameMessage := func(a, b reflect.Type) bool {
			return a.Kind() == reflect.Pointer && b.Kind() == reflect.Pointer && a.Elem().Name() == b.Elem().Name()
		}
		if o.Type.NumIn() != 3 || o.Type.In(1) != g.Type.In(0) || !sameMessage(o.Type.In(2), g.Type.In(1)) ||
			o.Type.NumOut() != 2 || !sameMessage(o.Type.Out(0), g.Type.Out(0)) || o.Type.Out(1) != g.Type.Out(1) {
			t.Errorf("agent.%s is %v, the service's is %v", g.Name, o.Type, g.Type)
		}
	}
	for _, m := range agentgrpc.AgentService_ServiceDesc.Methods {
		if _, ok := ours.MethodByName(m.MethodName); !ok {
			t.Errorf("agent has no method %s", m.MethodName)
		}
	}
}

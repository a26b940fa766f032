package client

import (
	"reflect"
	"testing"

	agentgrpc "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1grpc"
)

// TestClientMirrorsTheService holds the typed client to the generated one: same service name, and every method with the same
// request and response types, so a method added to the proto fails here
// until the helper can call it.
func TestClientMirrorsTheService(t *testing.T) {
	if want := "/" + agentgrpc.AgentService_ServiceDesc.ServiceName + "/"; ServicePrefix != want {
		t.Fatalf("ServicePrefix is %q, the service is %q", ServicePrefix, want)
	}
	gen := reflect.TypeFor[agentgrpc.AgentServiceClient]()
	ours := reflect.TypeFor[*Client]()
	if gen.NumMethod() != ours.NumMethod() {
		t.Errorf("the service has %d methods, Client has %d", gen.NumMethod(), ours.NumMethod())
	}
	for i := range gen.NumMethod() {
		g := gen.Method(i)
		o, ok := ours.MethodByName(g.Name)
		if !ok {
			t.Errorf("Client has no method %s", g.Name)
			continue
		}
		// Generated: (ctx, *Req, ...grpc.CallOption) (*Resp, error).
		// Ours, with the receiver first: (*Client, ctx, *Req) (*Resp, error),
		// where Req and Resp are the lite messages of the same names
		// (their wire compatibility is proto/dbxcred/v1/dbxcredv1lite's test).
		sameMessage := func(a, b reflect.Type) bool {
			return a.Kind() == reflect.Pointer && b.Kind() == reflect.Pointer && a.Elem().Name() == b.Elem().Name()
		}
		if o.Type.NumIn() != 3 || o.Type.In(1) != g.Type.In(0) || !sameMessage(o.Type.In(2), g.Type.In(1)) ||
			o.Type.NumOut() != 2 || !sameMessage(o.Type.Out(0), g.Type.Out(0)) || o.Type.Out(1) != g.Type.Out(1) {
			t.Errorf("Client.%s is %v, the service's is %v", g.Name, o.Type, g.Type)
		}
	}
	for _, m := range agentgrpc.AgentService_ServiceDesc.Methods {
		if _, ok := ours.MethodByName(m.MethodName); !ok {
			t.Errorf("Client has no method %s", m.MethodName)
		}
	}
}

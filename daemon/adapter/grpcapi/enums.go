package grpcapi

import (
	"strings"

	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
)

// vocab maps between a proto enum and the words the registry and the audit
// log use for its values: CREDENTIAL_KIND_OAUTH_M2M is "oauth-m2m",
// CHANNEL_METADATA is "metadata". It is built once, from the generated
// name table, so a new value needs no case here and a call allocates
// nothing. A word it does not know is the enum's zero, UNSPECIFIED.
type vocab[E ~int32] struct {
	words  map[E]string
	values map[string]E
}

func newVocab[E ~int32](names map[int32]string, prefix string) vocab[E] {
	v := vocab[E]{words: make(map[E]string, len(names)), values: make(map[string]E, len(names))}
	for n, name := range names {
		w := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(name, prefix)), "_", "-")
		v.words[E(n)], v.values[w] = w, E(n)
	}
	return v
}

func (v vocab[E]) value(word string) E { return v.values[word] }
func (v vocab[E]) word(e E) string     { return v.words[e] }

// enums are the vocabularies the service's messages use.
type enums struct {
	channel   vocab[pb.Channel]
	credKind  vocab[pb.CredentialKind]
	mode      vocab[pb.TokenMode]
	tokenKind vocab[pb.TokenKind]
}

func newEnums() enums {
	return enums{
		channel:   newVocab[pb.Channel](pb.Channel_name, "CHANNEL_"),
		credKind:  newVocab[pb.CredentialKind](pb.CredentialKind_name, "CREDENTIAL_KIND_"),
		mode:      newVocab[pb.TokenMode](pb.TokenMode_name, "TOKEN_MODE_"),
		tokenKind: newVocab[pb.TokenKind](pb.TokenKind_name, "TOKEN_KIND_"),
	}
}

package wsemu

import (
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
)

const (
	pathHostMetadata = "/.well-known/databricks-config"
	pathMe           = "/api/2.0/preview/scim/v2/Me"
	pathTokenCreate  = "/api/2.0/token/create"
	pathTokenList    = "/api/2.0/token/list"
	pathTokenDelete  = "/api/2.0/token/delete"

	msgNoCredential = "Credential was not sent or was of an unsupported type for this API."
	msgInvalidToken = "Invalid access token."
)

type apiHandler func(w http.ResponseWriter, r *http.Request, u *user)

// ServeHTTP answers like a workspace: faults first (they model the gateway),
// then authentication for everything under /api/, then routing. Routing after
// auth matches Databricks, where an unauthenticated caller cannot probe which
// endpoints exist.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	defer e.leave(r.Method, path)
	if f, ok := e.admit(r.Method, path); ok {
		if !sleep(r.Context(), f.Latency) {
			return // client gave up; nobody reads an answer
		}
		if f.Status != 0 {
			writeFault(w, f)
			return
		}
	}

	if path == pathHostMetadata {
		if r.Method != http.MethodGet {
			writeMethodNotAllowed(w, r, http.MethodGet)
			return
		}
		e.handleHostMetadata(w, r)
		return
	}
	if path == pathOIDCPrefix || strings.HasPrefix(path, pathOIDCPrefix+"/") {
		e.serveOIDC(w, r)
		return
	}
	if strings.HasPrefix(path, pathServing) {
		if _, ok := e.authorized(w, r); ok {
			e.serveServing(w, r)
		}
		return
	}
	if !strings.HasPrefix(path, "/api/") {
		writeNotFound(w, r)
		return
	}
	if strings.HasPrefix(path, pathAccountsAPI) {
		e.serveAccountAPI(w, r)
		return
	}

	u, ok := e.authorized(w, r)
	if !ok {
		return
	}
	if strings.HasPrefix(path, pathFiles) {
		e.serveFiles(w, r)
		return
	}

	methods := e.apiRoutes(path)
	if methods == nil {
		writeNotFound(w, r)
		return
	}
	h, ok := methods[r.Method]
	if !ok {
		allowed := make([]string, 0, len(methods))
		for m := range methods {
			allowed = append(allowed, m)
		}
		slices.Sort(allowed)
		writeMethodNotAllowed(w, r, allowed...)
		return
	}
	h(w, r, u)
}

func (e *Emulator) apiRoutes(path string) map[string]apiHandler {
	switch path {
	case pathMe:
		return map[string]apiHandler{http.MethodGet: e.handleMe}
	case pathTokenCreate:
		return map[string]apiHandler{http.MethodPost: e.handleTokenCreate}
	case pathTokenList:
		return map[string]apiHandler{http.MethodGet: e.handleTokenList}
	case pathTokenDelete:
		return map[string]apiHandler{http.MethodPost: e.handleTokenDelete}
	}
	return nil
}

// credential extracts the presented token. Besides Bearer it accepts Basic
// with login "token", which is what `curl -n` sends for the documented
// .netrc entry `login token password <PAT>`.
func credential(r *http.Request) (string, bool) {
	scheme, rest, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok {
		return "", false
	}
	rest = strings.TrimSpace(rest)
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		return rest, rest != ""
	case strings.EqualFold(scheme, "Basic"):
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return "", false
		}
		login, password, ok := strings.Cut(string(raw), ":")
		if !ok || login != "token" || password == "" {
			return "", false
		}
		return password, true
	}
	return "", false
}

func writeNotFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, "ENDPOINT_NOT_FOUND",
		"No API found for '"+r.Method+" "+r.URL.Path+"'")
}

func writeMethodNotAllowed(w http.ResponseWriter, r *http.Request, allowed ...string) {
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	writeError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED",
		"Method "+r.Method+" is not allowed for '"+r.URL.Path+"'; use "+strings.Join(allowed, " or "))
}

// authorized authenticates r's bearer token, answering 401 or 403 as a
// workspace does when it cannot. Real workspaces name themselves on
// authenticated responses; the SDK's CurrentWorkspaceID reads the header.
func (e *Emulator) authorized(w http.ResponseWriter, r *http.Request) (*user, bool) {
	value, ok := credential(r)
	if !ok {
		w.Header().Set("X-Databricks-Reason-Phrase", msgNoCredential)
		writeError(w, http.StatusUnauthorized, http.StatusUnauthorized, msgNoCredential)
		return nil, false
	}
	u, ok := e.authenticate(value)
	if !ok {
		w.Header().Set("X-Databricks-Reason-Phrase", msgInvalidToken)
		writeError(w, http.StatusForbidden, http.StatusForbidden, msgInvalidToken)
		return nil, false
	}
	w.Header().Set("X-Databricks-Org-Id", e.workspaceID)
	return u, true
}

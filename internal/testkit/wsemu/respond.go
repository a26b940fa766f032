package wsemu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

const maxBodyBytes = 1 << 20

// errorBody is the Databricks error envelope. ErrorCode is a string such as
// "QUOTA_EXCEEDED" except on the auth gateway's 401/403, where it is the
// HTTP status as a JSON number.
type errorBody struct {
	ErrorCode any    `json:"error_code"`
	Message   string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only our own response types get here, so this is a programming error;
		// still answer in the Databricks shape rather than a bare 500.
		status = http.StatusInternalServerError
		body = []byte(`{"error_code":"INTERNAL_ERROR","message":"encoding response failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

func writeError(w http.ResponseWriter, status int, code any, message string) {
	writeJSON(w, status, errorBody{ErrorCode: code, Message: message})
}

// decodeBody reads an optional JSON object into v; any error it returns is
// the caller's MALFORMED_REQUEST message. An empty body leaves v
// untouched because every field of these endpoints is optional or checked
// separately.
func decodeBody(r *http.Request, v any) error {
	raw, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBodyBytes))
	if err != nil {
		return fmt.Errorf("reading request body: %w", err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decoding JSON: %w", err)
	}
	return nil
}

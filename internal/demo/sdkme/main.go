// Command sdkme is the demo's stand-in for "any program using the Databricks
// Go SDK": it builds a workspace client from the environment alone (the demo
// sets DATABRICKS_HOST, DATABRICKS_AUTH_TYPE=metadata-service and
// DATABRICKS_METADATA_SERVICE_URL) and prints who CurrentUser.Me says it is.
// It holds no token and is given none: the SDK fetches one from dbx-credd.
// Built and run by scripts/demo; not installed.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/databricks/databricks-sdk-go"
	"github.com/databricks/databricks-sdk-go/service/iam"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "sdkme:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	// Fail fast rather than retry for minutes: a demo should say what broke.
	ws, err := databricks.NewWorkspaceClient(&databricks.Config{RetryTimeoutSeconds: 10})
	if err != nil {
		return fmt.Errorf("configuring the SDK: %w", err)
	}
	me, err := ws.CurrentUser.Me(ctx, iam.MeRequest{})
	if err != nil {
		return fmt.Errorf("CurrentUser.Me: %w", err)
	}
	fmt.Printf("SDK auth type %s, CurrentUser.Me: %s\n", ws.Config.AuthType, me.UserName)
	return nil
}

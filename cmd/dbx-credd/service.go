package main

import (
	"fmt"
	"io"
	"os"

	"github.com/dbx-cred/dbx-cred/daemon/service"
	"github.com/dbx-cred/dbx-cred/internal/safesocket"
)

// manageService runs install, uninstall, start, stop and status: the
// per-user service that runs "dbx-credd run" at login.
func manageService(cmd string, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		if args[0] == "-h" || args[0] == "--help" {
			fmt.Fprint(stdout, usage)
			return 0
		}
		fmt.Fprintf(stderr, "dbx-credd %s: unexpected argument %q (it takes none; set DBX_CRED_SOCKET before install to choose the socket)\n", cmd, args[0])
		return 64
	}
	m, err := service.New(os.Getenv)
	if err != nil {
		fmt.Fprintf(stderr, "dbx-credd %s: %v\n", cmd, err)
		return 1
	}
	socket := safesocket.Path(os.Getenv)
	switch cmd {
	case "install":
		err = m.Install()
		if err == nil {
			fmt.Fprintf(stdout, "Installed the %s; it starts at your next login.\nStart it now with: dbx-credd start\n", m.Describe())
		}
	case "uninstall":
		err = m.Uninstall()
		if err == nil {
			fmt.Fprintf(stdout, "Removed the %s.\n", m.Describe())
		}
	case "start":
		err = m.Start()
		if err == nil {
			fmt.Fprintf(stdout, "Started; dbx-cred finds it on %s.\n", socket)
		}
	case "stop":
		err = m.Stop()
		if err == nil {
			fmt.Fprintln(stdout, "Stopped; it starts again at your next login (dbx-credd uninstall to prevent that).")
		}
	case "status":
		return printStatus(m.Status(), socket, stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "dbx-credd %s: %v\n", cmd, err)
		if cmd == "stop" && service.DaemonAnswers(socket) {
			// A daemon that no service started (autostart, by hand) is
			// stopped over its socket, whoever started it.
			fmt.Fprintf(stderr, "A dbx-credd serves %s without the service: stop it with dbx-cred daemon stop\n", socket)
		}
		return 1
	}
	return 0
}

// printStatus shows the service and, separately, whether any daemon answers:
// dbx-cred's autostart or a "dbx-credd run &" serves without the service.
func printStatus(st service.State, socket string, stdout io.Writer) int {
	switch {
	case st.Installed:
		fmt.Fprintf(stdout, "service:  installed, %s (%s %s)\n", st.Running, st.Kind, st.Path)
	case st.Unavailable != "":
		fmt.Fprintf(stdout, "service:  none to install into here: %s\n", st.Unavailable)
	default:
		fmt.Fprintf(stdout, "service:  not installed (dbx-credd install would add the %s %s)\n", st.Kind, st.Path)
	}
	if service.DaemonAnswers(socket) {
		fmt.Fprintf(stdout, "daemon:   answering on %s (dbx-cred status shows its details)\n", socket)
		return 0
	}
	fmt.Fprintf(stdout, "daemon:   nothing answers on %s\n", socket)
	return 3
}

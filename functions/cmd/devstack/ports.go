package main

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
)

// listen listens on host:port for what, and when the port is taken says
// which setting moves it: setting is the DEV_*_PORT variable of that port.
func listen(host string, port int, setting string) (net.Listener, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, fmt.Sprint(port)))
	if err != nil {
		return nil, portError(port, setting, err)
	}
	return ln, nil
}

// portError explains err, from listening on port, when the port is taken:
// another program (or another make dev) listens there; on macOS the
// AirPlay Receiver takes 5000 by default. Other errors are returned as
// they are.
func portError(port int, setting string, err error) error {
	if !errors.Is(err, syscall.EADDRINUSE) && !strings.Contains(err.Error(), "address already in use") {
		return err
	}
	hint := ""
	if port == 5000 {
		hint = " (on macOS the AirPlay Receiver listens on 5000: turn it off in System Settings, General, AirDrop & Handoff, or move the gateway)"
	}
	return fmt.Errorf("port %d is already in use by another program%s; choose a free one with %s, e.g. %s=%d make dev: %w",
		port, hint, setting, setting, port+1, err)
}

//go:build !linux

package ftp

import "time"

// parkingAvailable: sessions park only on Linux (the epoll set in
// park_linux.go); elsewhere an idle session keeps its goroutine.
func parkingAvailable() bool { return false }

func parkSession(*session, time.Time) bool { return false }

func unpark(*session) {}

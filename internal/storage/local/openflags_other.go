//go:build !unix

package local

// openReadFlag: see openflags_unix.go. Other systems need no extra flag.
const openReadFlag = 0

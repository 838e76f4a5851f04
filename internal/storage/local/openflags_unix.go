//go:build unix

package local

import "syscall"

// openReadFlag is or-ed into every read-only open of a file whose type is not
// yet known. On Unix, opening a FIFO for reading blocks until a writer shows
// up; O_NONBLOCK makes that open return at once so the following fstat can
// refuse the FIFO. It has no effect on regular files.
const openReadFlag = syscall.O_NONBLOCK

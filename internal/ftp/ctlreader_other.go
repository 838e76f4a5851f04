//go:build !unix

package ftp

// rawReads is off where a raw read cannot wait for readability the Unix
// way; control connections keep their read buffer.
const rawReads = false

// fillRaw is never called here: rawReads is off, so ctlReader.raw stays nil.
func (c *ctlReader) fillRaw() error { panic("ftp: raw control reads are Unix only") }

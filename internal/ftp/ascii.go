package ftp

import (
	"bufio"
	"io"
)

// asciiEncoder converts a file to TYPE A on the wire (RFC 959 3.1.1.1): a
// bare LF becomes CRLF; an existing CRLF is left alone.
type asciiEncoder struct {
	r      *bufio.Reader
	prevCR bool
	pendLF bool
}

func newASCIIEncoder(r io.Reader) *asciiEncoder {
	return &asciiEncoder{r: bufio.NewReaderSize(r, 32*1024)}
}

func (e *asciiEncoder) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if e.pendLF {
			p[n] = '\n'
			n++
			e.pendLF = false
			e.prevCR = false
			continue
		}
		c, err := e.r.ReadByte()
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		if c == '\n' && !e.prevCR {
			p[n] = '\r'
			n++
			e.pendLF = true
			continue
		}
		p[n] = c
		n++
		e.prevCR = c == '\r'
	}
	return n, nil
}

// asciiDecoder converts TYPE A from the wire to the local convention: CRLF
// becomes LF; a CR not followed by LF is kept.
type asciiDecoder struct {
	r      *bufio.Reader
	heldCR bool
}

func newASCIIDecoder(r io.Reader) *asciiDecoder {
	return &asciiDecoder{r: bufio.NewReaderSize(r, 32*1024)}
}

func (d *asciiDecoder) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c, err := d.r.ReadByte()
		if err != nil {
			if d.heldCR {
				p[n] = '\r'
				n++
				d.heldCR = false
			}
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		if d.heldCR {
			d.heldCR = false
			if c == '\n' {
				p[n] = '\n'
				n++
				continue
			}
			p[n] = '\r'
			n++
			if n == len(p) {
				d.r.UnreadByte()
				return n, nil
			}
		}
		if c == '\r' {
			d.heldCR = true
			continue
		}
		p[n] = c
		n++
	}
	return n, nil
}

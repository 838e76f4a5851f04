// Package alg is the FTP application-level gateway of the userspace NAT, as
// a router's ALG does it: a streaming rewriter of the server's replies on a
// control connection (a 227 reply that carries the inside address is
// rewritten to the outside address; 227 and 229 replies report their data
// port so the gateway can open a one-shot translation for it) and a watcher
// of the client's commands (AUTH: the connection turns to TLS and the ALG
// steps aside). Both are pure state machines over bytes: they never read or
// write a socket, keep every byte they do not rewrite, and take their input
// in any split.
package alg

import (
	"bytes"
	"net/netip"
	"strconv"
)

// MaxHeldLine bounds how much of a 227 or 229 reply line is held back while
// its end is awaited; a longer line is passed on as it is, unrewritten.
const MaxHeldLine = 512

// Passive is one passive-mode reply seen on the control connection.
type Passive struct {
	Code      int    // 227 (PASV) or 229 (EPSV)
	Port      uint16 // the data port the server listens on
	Rewritten bool   // a 227 whose inside address was replaced by the outside one
}

// Rewriter rewrites one control connection's server-to-client stream.
// Inside is the address the server announces (its own, when it runs
// without a public address); Outside is the address clients reach. OnPassive,
// when set, is called for each 227 carrying Inside and for each 229, before
// the line is returned by Feed (and for a 227 already carrying Outside), so that a translation can be opened before
// the client learns the port.
type Rewriter struct {
	Inside, Outside netip.Addr
	OnPassive       func(Passive)

	state int
	line  []byte // the held start of the current line
	multi string // the code of the multi-line reply under way ("" outside one)
	held  int    // the reply code of the line being held
}

const (
	sStart = iota // collecting the first 4 bytes of a line
	sPass         // passing the rest of a line through
	sHold         // holding a 227/229 line until its end
)

// Feed appends to dst what p makes of the output and returns it. Bytes of
// a line that may need rewriting are held until the line's end (or
// MaxHeldLine); everything else is appended at once.
func (r *Rewriter) Feed(dst, p []byte) []byte {
	for len(p) > 0 {
		switch r.state {
		case sPass:
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				return append(dst, p...)
			}
			dst = append(dst, p[:i+1]...)
			p = p[i+1:]
			r.state = sStart
		case sStart:
			c := p[0]
			p = p[1:]
			r.line = append(r.line, c)
			if c == '\n' || len(r.line) == 4 {
				dst = r.decide(dst, c == '\n')
			}
		case sHold:
			i := bytes.IndexByte(p, '\n')
			take := len(p)
			if i >= 0 {
				take = i + 1
			}
			if len(r.line)+take > MaxHeldLine {
				dst = append(dst, r.line...)
				r.line = r.line[:0]
				r.state = sPass
				continue
			}
			r.line = append(r.line, p[:take]...)
			p = p[take:]
			if i >= 0 {
				dst = r.finishLine(dst)
				r.state = sStart
			}
		}
	}
	return dst
}

// Flush appends whatever is held (the start of a line the stream ended in)
// and resets the line state.
func (r *Rewriter) Flush(dst []byte) []byte {
	dst = append(dst, r.line...)
	r.line = r.line[:0]
	r.state = sStart
	return dst
}

// decide looks at a line's first four bytes (or the whole of a shorter
// line): track multi-line replies (RFC 959 4.2: "DDD-" opens one, "DDD "
// closes it) and hold the lines of 227 and 229 replies.
func (r *Rewriter) decide(dst []byte, ended bool) []byte {
	l := r.line
	code := ""
	sep := byte(0)
	if len(l) == 4 && isDigit(l[0]) && isDigit(l[1]) && isDigit(l[2]) {
		code, sep = string(l[:3]), l[3]
	}
	hold := false
	of := code
	if r.multi != "" {
		of = r.multi
		if code == r.multi && sep == ' ' {
			r.multi = ""
		}
	} else if code != "" && sep == '-' {
		r.multi = code
	} else if sep != ' ' {
		of = ""
	}
	switch of {
	case "227":
		hold, r.held = true, 227
	case "229":
		hold, r.held = true, 229
	}
	if ended || !hold {
		if ended && hold {
			return r.finishLine(dst)
		}
		dst = append(dst, l...)
		r.line = r.line[:0]
		if ended {
			r.state = sStart
		} else {
			r.state = sPass
		}
		return dst
	}
	r.state = sHold
	return dst
}

// finishLine handles one whole held line and appends it, rewritten or not.
func (r *Rewriter) finishLine(dst []byte) []byte {
	l := r.line
	r.line = r.line[:0]
	r.state = sStart
	switch r.held {
	case 227:
		start, end, addr, port, ok := FindPASV(l)
		if ok && r.Inside.IsValid() && addr == r.Inside && r.Outside.Is4() {
			if r.OnPassive != nil {
				r.OnPassive(Passive{Code: 227, Port: port, Rewritten: true})
			}
			dst = append(dst, l[:start]...)
			dst = appendTuple(dst, r.Outside, port)
			return append(dst, l[end:]...)
		}
		if ok && r.Outside.IsValid() && addr == r.Outside && r.OnPassive != nil {
			// A server that knows the outside address (PROXY protocol's
			// destination, or --public-ip) needs no rewrite, only the
			// translation.
			r.OnPassive(Passive{Code: 227, Port: port})
		}
	case 229:
		if port, ok := FindEPSV(l); ok && r.OnPassive != nil {
			r.OnPassive(Passive{Code: 229, Port: port})
		}
	}
	return append(dst, l...)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// FindPASV finds the first h1,h2,h3,h4,p1,p2 tuple of a 227 reply line
// (RFC 959; servers differ in what surrounds it, so it is searched for,
// as clients do). start and end delimit the tuple in l.
func FindPASV(l []byte) (start, end int, addr netip.Addr, port uint16, ok bool) {
	for i := 0; i < len(l); i++ {
		if !isDigit(l[i]) || (i > 0 && isDigit(l[i-1])) {
			continue
		}
		var v [6]int
		j := i
		good := true
		for k := 0; k < 6 && good; k++ {
			n, w := number(l[j:])
			if w == 0 || n > 255 {
				good = false
				break
			}
			v[k] = n
			j += w
			if k < 5 {
				if j >= len(l) || l[j] != ',' {
					good = false
					break
				}
				j++
			}
		}
		if !good || (j < len(l) && isDigit(l[j])) {
			continue
		}
		a := netip.AddrFrom4([4]byte{byte(v[0]), byte(v[1]), byte(v[2]), byte(v[3])})
		return i, j, a, uint16(v[4]<<8 | v[5]), true
	}
	return 0, 0, netip.Addr{}, 0, false
}

// number reads up to 3 decimal digits; w is how many bytes it took (0: none).
func number(b []byte) (n, w int) {
	for w < len(b) && w < 3 && isDigit(b[w]) {
		n = n*10 + int(b[w]-'0')
		w++
	}
	if w == 3 && w < len(b) && isDigit(b[w]) {
		return 0, 0 // four digits or more: not a byte
	}
	return n, w
}

// FindEPSV finds the port of a 229 reply: "(<d><d><d>PORT<d>)" with any
// delimiter d (RFC 2428 section 3).
func FindEPSV(l []byte) (uint16, bool) {
	i := bytes.IndexByte(l, '(')
	if i < 0 || i+4 >= len(l) {
		return 0, false
	}
	d := l[i+1]
	if l[i+2] != d || l[i+3] != d || isDigit(d) {
		return 0, false
	}
	j := i + 4
	n, w := 0, 0
	for j+w < len(l) && isDigit(l[j+w]) && w < 5 {
		n = n*10 + int(l[j+w]-'0')
		w++
	}
	if w == 0 || n == 0 || n > 65535 || j+w+1 >= len(l) || l[j+w] != d || l[j+w+1] != ')' {
		return 0, false
	}
	return uint16(n), true
}

func appendTuple(dst []byte, a netip.Addr, port uint16) []byte {
	b := a.As4()
	for _, x := range b {
		dst = strconv.AppendUint(dst, uint64(x), 10)
		dst = append(dst, ',')
	}
	dst = strconv.AppendUint(dst, uint64(port>>8), 10)
	dst = append(dst, ',')
	return strconv.AppendUint(dst, uint64(port&0xff), 10)
}

// Commands watches one control connection's client-to-server stream for
// AUTH (RFC 4217: AUTH TLS, or the older AUTH SSL/TLS-C/TLS-P): from the
// server's answer on, the connection is encrypted and the ALG can read
// nothing more. It keeps no bytes: the caller passes the stream on as it is.
type Commands struct {
	head    []byte // the first bytes of the current line
	inLine  bool   // past the head of the current line
	sawAuth bool
}

// Feed scans p and reports whether an AUTH command has been seen (in p or before).
func (c *Commands) Feed(p []byte) bool {
	for _, b := range p {
		if c.sawAuth {
			return true
		}
		if b == '\n' {
			c.check()
			c.head, c.inLine = c.head[:0], false
			continue
		}
		if c.inLine {
			continue
		}
		c.head = append(c.head, b)
		if len(c.head) == 5 {
			c.check()
			c.inLine = true
		}
	}
	return c.sawAuth
}

func (c *Commands) check() {
	h := bytes.TrimRight(c.head, "\r")
	if len(h) >= 4 && bytes.EqualFold(h[:4], []byte("AUTH")) && (len(h) == 4 || h[4] == ' ') {
		c.sawAuth = true
	}
}

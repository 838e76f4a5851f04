package ftp

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// handleFEAT: RFC 2389. The list is built from what this server does, so
// the reply is the configuration: commands whose storage capability the
// session's storage lacks (MFMT without CapChtimes) are left out.
func (s *session) handleFEAT(arg string) {
	var b strings.Builder
	b.WriteString("Features:\n")
	feats := []string{"EPRT", "EPSV", "HOST", "MDTM", s.mlstFacts.featMLST(), "PASV", "REST STREAM", "SIZE", "TVFS", "UTF8"}
	if s.available(commands["MFMT"]) {
		feats = append(feats, "MFMT")
	}
	hl := "HASH "
	for i, a := range hashAlgos {
		if i > 0 {
			hl += ";"
		}
		hl += a.name
		if a.name == s.hashAlgo {
			hl += "*"
		}
	}
	feats = append(feats, hl)
	if st := s.srv.settings(); st.tlsConfig != nil {
		feats = append(feats, "AUTH TLS", "PBSZ", "PROT")
		if st.tls.AllowCCC {
			feats = append(feats, "CCC")
		}
	}
	for _, f := range sortFeats(feats) {
		b.WriteString(f)
		b.WriteByte('\n')
	}
	b.WriteString("End")
	s.reply(211, b.String())
}

func sortFeats(f []string) []string {
	for i := 1; i < len(f); i++ {
		for j := i; j > 0 && f[j] < f[j-1]; j-- {
			f[j], f[j-1] = f[j-1], f[j]
		}
	}
	return f
}

// handleOPTS: RFC 2389 OPTS for UTF8 (RFC 2640), MLST (RFC 3659 7.9) and
// HASH (draft-bryan-ftpext-hash).
func (s *session) handleOPTS(arg string) {
	cmd, opt, _ := strings.Cut(arg, " ")
	opt = strings.TrimSpace(opt)
	switch strings.ToUpper(cmd) {
	case "UTF8", "UTF-8":
		// Paths are always UTF-8 here; OFF is accepted and changes nothing.
		switch strings.ToUpper(opt) {
		case "ON", "":
			s.reply(200, "UTF8 mode is always on")
		case "OFF":
			s.reply(200, "UTF8 is always on; paths are UTF-8")
		default:
			s.reply(501, "OPTS UTF8 takes ON or OFF")
		}
	case "MLST":
		set, names := parseMLSTOpts(opt)
		s.mlstFacts = set
		s.reply(200, "MLST OPTS "+strings.Join(names, ";")+";")
	case "HASH":
		if opt == "" {
			s.reply(200, s.hashAlgo)
			return
		}
		for _, a := range hashAlgos {
			if strings.EqualFold(opt, a.name) {
				s.hashAlgo = a.name
				s.reply(200, a.name)
				return
			}
		}
		s.reply(504, "Unknown hash algorithm; FEAT lists the supported ones")
	default:
		s.reply(501, "Option not understood")
	}
}

// parseMLSTOpts parses "OPTS MLST fact;fact;" (RFC 3659 section 7.9):
// the facts known here, in their canonical spelling; unknown ones are left
// out, as the RFC asks.
func parseMLSTOpts(opt string) (factSet, []string) {
	var set factSet
	var names []string
	for _, f := range strings.Split(opt, ";") {
		for _, n := range factNames {
			if strings.EqualFold(f, n.name) {
				set |= n.f
				names = append(names, n.name)
			}
		}
	}
	return set, names
}

func (s *session) handleSYST(arg string) {
	// The de-facto answer that makes clients parse "ls -l" listings.
	s.reply(215, "UNIX Type: L8")
}

func (s *session) handleNOOP(arg string) { s.reply(200, "NOOP ok") }

func (s *session) handleHELP(arg string) {
	if arg != "" {
		v := strings.ToUpper(strings.TrimSpace(arg))
		if real, ok := aliases[v]; ok {
			v = real
		}
		c, ok := commands[v]
		switch {
		case !ok:
			s.reply(502, "Unknown command "+quoteVerb(v))
		case !s.available(c):
			s.reply(502, v+" is not implemented for this storage")
		default:
			s.reply(214, "Syntax: "+c.help)
		}
		return
	}
	var b strings.Builder
	b.WriteString("The following commands are recognized:\n")
	// Only the commands this session's storage can do.
	verbs := slices.DeleteFunc(sortedVerbs(), func(v string) bool {
		if real, ok := aliases[v]; ok {
			v = real
		}
		return !s.available(commands[v])
	})
	for i, v := range verbs {
		b.WriteString(fmt.Sprintf("%-5s", v))
		if i%8 == 7 || i == len(verbs)-1 {
			b.WriteByte('\n')
		} else {
			b.WriteByte(' ')
		}
	}
	b.WriteString("Help OK")
	s.reply(214, b.String())
}

// handleSTAT: during a transfer, the transfer's status (RFC 959: 213 while
// it runs); with a path, a listing on the control connection; otherwise the
// session's status.
func (s *session) handleSTAT(arg string) {
	if t := s.currentTransfer(); t != nil {
		s.reply(213, fmt.Sprintf("Status: %s %s in progress for %s", t.verb, t.path, time.Since(t.start).Round(time.Millisecond)))
		return
	}
	if arg != "" {
		if s.acct == nil {
			s.reply(530, "Please login with USER and PASS")
			return
		}
		s.statPath(arg)
		return
	}
	var b strings.Builder
	b.WriteString("Rotary FTP server status:\n")
	fmt.Fprintf(&b, "Connected to %s\n", s.info.Client.Addr())
	if s.acct != nil {
		fmt.Fprintf(&b, "Logged in as %s\n", s.acct.Name)
	} else {
		b.WriteString("Not logged in\n")
	}
	fmt.Fprintf(&b, "TYPE: %s, STRUcture: File, MODE: Stream\n", s.modeName())
	if s.tls != nil {
		prot := "C (clear)"
		if s.protP {
			prot = "P (private)"
		}
		fmt.Fprintf(&b, "Control connection: %s; data protection: PROT %s\n", s.tls.describe(), prot)
	}
	if s.pasv != nil {
		fmt.Fprintf(&b, "Passive port %d reserved\n", s.pasv.Port())
	}
	b.WriteString("No data connection\nEnd of status")
	s.reply(211, b.String())
}

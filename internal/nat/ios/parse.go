package ios

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// ParseOptions change how strictly Parse reads the file.
type ParseOptions struct {
	// Lenient makes every line the gateway does not run a warning, and goes
	// on: unknown commands (with the indented lines of an unknown block),
	// banners, source NAT (ip nat inside source list ... overload), standard
	// access lists, entries for protocols other than TCP, pools of other
	// types, and lines in forms the gateway cannot read. A router's whole
	// running config loads this way; each skipped line is named in a warning
	// (a skipped line the NAT rules need still fails, as a reference error).
	// Errors that are not about one line (size limits, names used but not
	// defined) stay errors.
	Lenient bool
	// Strict accepts plain IOS only: `rotary ...` lines are errors and the
	// Rotary health checks are off.
	Strict bool
}

// Parse reads an IOS NAT configuration named name (used in messages) and
// returns its model. It fails with an *Error on the first problem of syntax
// or reference: every name a statement uses is defined, nothing is defined
// twice, and inside hosts are on `ip nat inside` interfaces. What a
// datapath can run of a valid model is the datapath's check (the userspace
// forwarder needs listable destinations; see package forward), so a
// renderer or a kernel datapath sees every configuration IOS would accept.
func Parse(name string, r io.Reader, opts ParseOptions) (*Config, []Warning, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > MaxFileBytes {
		return nil, nil, &Error{File: name, Line: 1, Column: 1, Detail: fmt.Sprintf("file larger than %d bytes", MaxFileBytes)}
	}
	p := &parser{
		file:   name,
		opts:   opts,
		cfg:    &Config{File: name},
		acls:   map[string]*ACL{},
		pools:  map[string]*Pool{},
		ifaces: map[string]*Interface{},
	}
	p.cfg.Rotary.Strict = opts.Strict
	p.cfg.Timeouts = Timeouts{
		TCP:    Timeout{Seconds: DefaultTCPTimeout},
		FinRst: Timeout{Seconds: DefaultFinRstTimeout},
		Syn:    Timeout{Seconds: DefaultSynTimeout},
	}
	for i, raw := range bytes.Split(data, []byte("\n")) {
		num := i + 1
		if len(raw) > MaxLineBytes {
			return nil, nil, &Error{File: name, Line: num, Column: MaxLineBytes + 1,
				Detail: fmt.Sprintf("line longer than %d bytes", MaxLineBytes)}
		}
		text := strings.TrimRight(string(raw), "\r")
		l := splitLine(num, text)
		if p.inBanner(&l) {
			continue
		}
		if err := p.line(l); err != nil {
			var perr *Error
			if !p.opts.Lenient || !errors.As(err, &perr) {
				return nil, nil, err
			}
			p.skip(&l, perr)
		}
	}
	if err := p.finish(); err != nil {
		return nil, nil, err
	}
	return p.cfg, p.warnings, nil
}

type blockKind int

const (
	noBlock blockKind = iota
	interfaceBlock
	aclBlock
	skippedBlock // an unknown block in lenient mode
)

type parser struct {
	file     string
	opts     ParseOptions
	cfg      *Config
	warnings []Warning

	block blockKind
	iface *Interface
	acl   *ACL

	acls   map[string]*ACL
	pools  map[string]*Pool
	ifaces map[string]*Interface

	// bannerEnd, while not empty, is the delimiter that ends the banner
	// being skipped (lenient mode).
	bannerEnd string
	// skipped names the lines lenient mode ignored that defined something,
	// so that a reference to one says why it is missing.
	skipped map[string]int
}

// skip turns the error of line l into a warning (lenient mode). The
// indented lines under a skipped global line are skipped with it.
func (p *parser) skip(l *line, err *Error) {
	msg := strings.TrimPrefix(err.Error(), fmt.Sprintf("%s:%d:%d: ", err.File, err.Line, err.Column))
	p.warn(l, err.Column, "line ignored: %s: %s", msg, strings.TrimSpace(l.text))
	if !l.indented {
		p.block = skippedBlock
	}
	// Remember a pool or access list the line defined, for references.
	if len(l.toks) >= 4 && strings.EqualFold(l.toks[0].s, "ip") && strings.EqualFold(l.toks[1].s, "nat") && strings.EqualFold(l.toks[2].s, "pool") {
		p.noteSkipped("pool "+l.toks[3].s, l.num)
	}
	if len(l.toks) >= 2 && strings.EqualFold(l.toks[0].s, "access-list") {
		p.noteSkipped("access list "+l.toks[1].s, l.num)
	}
	if len(l.toks) >= 4 && strings.EqualFold(l.toks[0].s, "ip") && strings.EqualFold(l.toks[1].s, "access-list") {
		p.noteSkipped("access list "+l.toks[3].s, l.num)
	}
}

func (p *parser) noteSkipped(what string, line int) {
	if p.skipped == nil {
		p.skipped = map[string]int{}
	}
	if _, ok := p.skipped[what]; !ok {
		p.skipped[what] = line
	}
}

// skippedDetail explains a missing pool or access list that lenient mode
// ignored.
func (p *parser) skippedDetail(what string) string {
	if n, ok := p.skipped[what]; ok {
		return fmt.Sprintf("%s is on line %d, which was ignored (see the warning)", what, n)
	}
	return ""
}

// inBanner skips the lines of a banner (banner motd ^C ... ^C) in lenient
// mode: its text is free and would read as commands. It reports whether l
// belongs to a banner.
func (p *parser) inBanner(l *line) bool {
	if p.bannerEnd != "" {
		if strings.Contains(l.text, p.bannerEnd) {
			p.bannerEnd = ""
		}
		return true
	}
	if !p.opts.Lenient || l.indented || len(l.toks) < 3 || !strings.EqualFold(l.toks[0].s, "banner") {
		return false
	}
	// banner TYPE DELIM text...: the delimiter is the third token's first
	// character, or "^C" as IOS writes Ctrl-C in a running config.
	delim := l.toks[2].s[:1]
	if strings.HasPrefix(l.toks[2].s, "^C") {
		delim = "^C"
	}
	rest := l.text[l.toks[2].col-1+len(delim):]
	p.warn(l, l.toks[0].col, "banner ignored: %s", strings.TrimSpace(l.text))
	if !strings.Contains(rest, delim) {
		p.bannerEnd = delim
	}
	return true
}

func (p *parser) warn(l *line, col int, format string, args ...any) {
	p.warnings = append(p.warnings, Warning{File: p.file, Line: l.num, Column: col, Message: fmt.Sprintf(format, args...)})
}

// unknown handles a line whose command the gateway does not know: an error,
// or in lenient mode a warning that also skips the indented lines under it.
func (p *parser) unknown(c *cursor, t token, expected string) error {
	if p.opts.Lenient {
		p.warn(c.l, t.col, "unknown command %q: line ignored", strings.TrimSpace(c.l.text))
		if !c.l.indented {
			p.block = skippedBlock
		}
		return nil
	}
	return c.errAt(t, expected, "")
}

func (p *parser) line(l line) error {
	if len(l.toks) == 0 || strings.HasPrefix(l.toks[0].s, "!") {
		return nil
	}
	c := &cursor{file: p.file, l: &l}
	if l.indented {
		switch p.block {
		case interfaceBlock:
			return p.interfaceLine(c)
		case aclBlock:
			return p.aclLine(c)
		case skippedBlock:
			return nil
		}
		return c.errAt(l.toks[0], "a global command at the start of the line",
			"indented lines belong to an interface or ip access-list extended block")
	}
	p.block = noBlock
	return p.global(c)
}

const globalCommands = `"interface", "ip", "access-list", "rotary" or "!"`

func (p *parser) global(c *cursor) error {
	first := c.l.toks[0]
	switch strings.ToLower(first.s) {
	case "interface":
		c.i++
		return p.interfaceHeader(c)
	case "ip":
		c.i++
		return p.ipGlobal(c, first)
	case "access-list":
		c.i++
		return p.numberedACL(c)
	case "rotary":
		c.i++
		return p.rotary(c, first)
	case "no":
		if len(c.l.toks) > 3 && strings.EqualFold(c.l.toks[1].s, "ip") && strings.EqualFold(c.l.toks[2].s, "nat") && strings.EqualFold(c.l.toks[3].s, "service") {
			c.i += 4
			return p.noService(c)
		}
	case "end", "exit":
		c.i++
		return c.end()
	case "permit", "deny", "remark":
		if !p.opts.Lenient {
			return c.errAt(first, "a global command ("+globalCommands+")",
				"access-list entries must be indented under ip access-list extended NAME")
		}
	}
	return p.unknown(c, first, globalCommands)
}

// interface NAME
func (p *parser) interfaceHeader(c *cursor) error {
	t, err := c.next("an interface name")
	if err != nil {
		return err
	}
	// IOS accepts "interface GigabitEthernet 0/0" and stores it joined.
	name := t.s
	for c.more() {
		name += c.l.toks[c.i].s
		c.i++
	}
	ifc := p.ifaces[name]
	if ifc == nil {
		ifc = &Interface{Name: name, Pos: Pos{c.l.num, c.l.toks[0].col}}
		p.ifaces[name] = ifc
		p.cfg.Interfaces = append(p.cfg.Interfaces, ifc)
	}
	p.block, p.iface = interfaceBlock, ifc
	return nil
}

func (p *parser) interfaceLine(c *cursor) error {
	first := c.l.toks[0]
	kw := strings.ToLower(first.s)
	c.i++
	switch kw {
	case "exit":
		p.block = noBlock
		return c.end()
	case "description":
		p.iface.Description = c.rest()
		return nil
	case "shutdown":
		p.iface.Shutdown = true
		return c.end()
	case "no":
		if c.peek() == "shutdown" {
			c.i++
			p.iface.Shutdown = false
			return c.end()
		}
		return p.unknown(c, first, `"ip address", "ip nat", "description", "shutdown" or "no shutdown"`)
	case "ip":
		switch c.peek() {
		case "address":
			c.i++
			return p.interfaceAddress(c)
		case "nat":
			c.i++
			role, _, err := c.keyword("inside", "outside")
			if err != nil {
				return err
			}
			p.iface.NAT = role
			return c.end()
		}
	}
	return p.unknown(c, first, `"ip address", "ip nat", "description", "shutdown" or "no shutdown"`)
}

// ip address A M [secondary]
func (p *parser) interfaceAddress(c *cursor) error {
	a, _, err := p.ipv4(c, "an IPv4 address")
	if err != nil {
		return err
	}
	bits, err := p.netmask(c)
	if err != nil {
		return err
	}
	pfx := netip.PrefixFrom(a, bits)
	if c.peek() == "secondary" {
		c.i++
		p.iface.Addresses = append(p.iface.Addresses, pfx)
		return c.end()
	}
	if err := c.end(); err != nil {
		return err
	}
	if len(p.iface.Addresses) > 0 {
		p.iface.Addresses[0] = pfx // a new primary replaces the old one, as in IOS
	} else {
		p.iface.Addresses = append(p.iface.Addresses, pfx)
	}
	return nil
}

func (p *parser) ipGlobal(c *cursor, first token) error {
	switch c.peek() {
	case "nat":
		c.i++
		return p.ipNat(c)
	case "access-list":
		c.i++
		kind, _, err := c.keyword("extended", "standard")
		if err != nil {
			return err
		}
		if kind == "standard" {
			return c.errAt(c.l.toks[c.i-1], `"extended"`, "standard access lists match sources only; the gateway needs destinations")
		}
		t, err := c.next("an access list name")
		if err != nil {
			return err
		}
		if err := c.end(); err != nil {
			return err
		}
		acl, err := p.aclNamed(c, t, false)
		if err != nil {
			return err
		}
		p.block, p.acl = aclBlock, acl
		return nil
	}
	return p.unknown(c, first, `"ip nat" or "ip access-list"`)
}

func (p *parser) ipNat(c *cursor) error {
	kw, _, err := c.keywordWhy("not supported by the gateway", "pool", "inside", "translation", "service")
	if err != nil {
		return err
	}
	switch kw {
	case "service":
		return p.service(c)
	case "pool":
		return p.pool(c)
	case "translation":
		return p.translation(c)
	}
	kw, _, err = c.keyword("destination", "source")
	if err != nil {
		return err
	}
	if kw == "destination" {
		return p.destination(c)
	}
	return p.static(c)
}

// ip nat service list ACL ftp tcp port N: the FTP ALG also watches control
// connections to port N that ACL permits (it always watches port 21).
func (p *parser) service(c *cursor) error {
	if _, _, err := c.keywordWhy("only ip nat service list ACL ftp tcp port N is supported by the gateway", "list"); err != nil {
		return err
	}
	aclTok, err := c.next("an access list number or name")
	if err != nil {
		return err
	}
	if _, _, err := c.keywordWhy("the gateway's only ALG is FTP's", "ftp"); err != nil {
		return err
	}
	if _, _, err := c.keyword("tcp"); err != nil {
		return err
	}
	if _, _, err := c.keyword("port"); err != nil {
		return err
	}
	port, _, err := p.port(c)
	if err != nil {
		return err
	}
	if err := c.end(); err != nil {
		return err
	}
	p.cfg.FTPALG.Services = append(p.cfg.FTPALG.Services, &FTPService{
		ACL: aclTok.s, Port: port, Pos: Pos{c.l.num, c.l.toks[0].col}, ACLPos: Pos{c.l.num, aclTok.col}})
	return nil
}

// no ip nat service alg tcp ftp: the FTP ALG off.
func (p *parser) noService(c *cursor) error {
	for _, w := range []string{"alg", "tcp", "ftp"} {
		if _, _, err := c.keywordWhy("only no ip nat service alg tcp ftp is supported by the gateway", w); err != nil {
			return err
		}
	}
	if err := c.end(); err != nil {
		return err
	}
	p.cfg.FTPALG.Off = true
	return nil
}

// ip nat pool NAME START END {netmask M | prefix-length N} type rotary
func (p *parser) pool(c *cursor) error {
	nameTok, err := c.next("a pool name")
	if err != nil {
		return err
	}
	if prev := p.pools[nameTok.s]; prev != nil {
		return c.errAt(nameTok, "a new pool name", fmt.Sprintf("pool %s is already defined on line %d", nameTok.s, prev.Pos.Line))
	}
	if k := c.peek(); k == "netmask" || k == "prefix-length" {
		return c.errHere("a start address", "pools with address sub-commands are not supported by the gateway: write START END on the pool line")
	}
	start, _, err := p.ipv4(c, "a start address")
	if err != nil {
		return err
	}
	end, endTok, err := p.ipv4(c, "an end address")
	if err != nil {
		return err
	}
	if end.Less(start) {
		return c.errAt(endTok, "an end address not below "+start.String(), "")
	}
	kw, _, err := c.keyword("netmask", "prefix-length")
	if err != nil {
		return err
	}
	var bits int
	if kw == "netmask" {
		if bits, err = p.netmask(c); err != nil {
			return err
		}
	} else {
		t, err := c.next("a prefix length (1-32)")
		if err != nil {
			return err
		}
		n, perr := strconv.Atoi(t.s)
		if perr != nil || n < 1 || n > 32 {
			return c.errAt(t, "a prefix length (1-32)", "")
		}
		bits = n
	}
	if pfx := netip.PrefixFrom(start, bits).Masked(); !pfx.Contains(end) {
		return c.errAt(endTok, "an end address in "+pfx.String(), "a pool's addresses must share one network")
	}
	if n := u32(end) - u32(start); n >= MaxPoolMembers {
		return c.errAt(endTok, fmt.Sprintf("at most %d addresses in a pool", MaxPoolMembers), "")
	}
	if !c.more() {
		return c.errHere(`"type rotary"`, "a pool without a type is not supported by the gateway: it runs rotary pools for ip nat inside destination")
	}
	if _, _, err := c.keyword("type"); err != nil {
		return err
	}
	typ, typTok, err := c.keyword(PoolTypeRotary)
	if err != nil {
		if typTok.s != "" {
			return c.errAt(typTok, `"rotary"`, fmt.Sprintf("type %s is not supported by the gateway", typTok.s))
		}
		return err
	}
	if err := c.end(); err != nil {
		return err
	}
	pool := &Pool{Name: nameTok.s, Start: start, End: end, PrefixLen: bits, Type: typ, Pos: Pos{c.l.num, c.l.toks[0].col}}
	p.pools[pool.Name] = pool
	p.cfg.Pools = append(p.cfg.Pools, pool)
	return nil
}

// ip nat inside destination list ACL pool POOL
func (p *parser) destination(c *cursor) error {
	if _, _, err := c.keywordWhy("only ip nat inside destination list ACL pool POOL is supported by the gateway", "list"); err != nil {
		return err
	}
	aclTok, err := c.next("an access list number or name")
	if err != nil {
		return err
	}
	if _, _, err := c.keyword("pool"); err != nil {
		return err
	}
	poolTok, err := c.next("a pool name")
	if err != nil {
		return err
	}
	if err := c.end(); err != nil {
		return err
	}
	p.cfg.DestinationRules = append(p.cfg.DestinationRules, &DestinationRule{
		ACL: aclTok.s, Pool: poolTok.s,
		Pos:     Pos{c.l.num, c.l.toks[0].col},
		ACLPos:  Pos{c.l.num, aclTok.col},
		PoolPos: Pos{c.l.num, poolTok.col},
	})
	return nil
}

// ip nat inside source static tcp LOCAL LPORT GLOBAL GPORT [extendable]
func (p *parser) static(c *cursor) error {
	if _, _, err := c.keywordWhy("source NAT (list, route-map) translates inside clients going out; not supported by the gateway", "static"); err != nil {
		return err
	}
	if _, _, err := c.keywordWhy("the gateway forwards TCP ports: use static tcp LOCAL LPORT GLOBAL GPORT", "tcp"); err != nil {
		return err
	}
	local, _, err := p.ipv4(c, "an inside local address")
	if err != nil {
		return err
	}
	lport, _, err := p.port(c)
	if err != nil {
		return err
	}
	global, _, err := p.ipv4(c, "an inside global address")
	if err != nil {
		return err
	}
	gport, gportTok, err := p.port(c)
	if err != nil {
		return err
	}
	if gport == 0 || lport == 0 {
		return c.errAt(gportTok, "ports 1-65535", "")
	}
	sm := &StaticMap{Protocol: "tcp", Local: netip.AddrPortFrom(local, lport), Global: netip.AddrPortFrom(global, gport), Pos: Pos{c.l.num, c.l.toks[0].col}}
	if c.peek() == "extendable" {
		c.i++
		sm.Extendable = true
	}
	if err := c.end(); err != nil {
		return err
	}
	for _, o := range p.cfg.StaticMaps {
		if o.Global == sm.Global {
			return c.errAt(gportTok, "an inside global address and port not yet mapped",
				fmt.Sprintf("%s is already mapped on line %d", sm.Global, o.Pos.Line))
		}
	}
	p.cfg.StaticMaps = append(p.cfg.StaticMaps, sm)
	return nil
}

// ip nat translation {tcp-timeout|finrst-timeout|syn-timeout} SECONDS|never
func (p *parser) translation(c *cursor) error {
	kw, _, err := c.keywordWhy("the other translation settings do not apply to a TCP gateway", "tcp-timeout", "finrst-timeout", "syn-timeout")
	if err != nil {
		return err
	}
	v, err := c.next("a number of seconds (1-2147483) or \"never\"")
	if err != nil {
		return err
	}
	var to Timeout
	if strings.EqualFold(v.s, "never") {
		to.Never = true
	} else {
		n, perr := strconv.Atoi(v.s)
		if perr != nil || n < 1 || n > 2147483 {
			return c.errAt(v, "a number of seconds (1-2147483) or \"never\"", "")
		}
		to.Seconds = n
	}
	if err := c.end(); err != nil {
		return err
	}
	switch kw {
	case "tcp-timeout":
		p.cfg.Timeouts.TCP = to
	case "finrst-timeout":
		p.cfg.Timeouts.FinRst = to
	case "syn-timeout":
		p.cfg.Timeouts.Syn = to
	}
	return nil
}

// access-list N {permit|deny|remark} ...
func (p *parser) numberedACL(c *cursor) error {
	t, err := c.next("an access list number")
	if err != nil {
		return err
	}
	n, perr := strconv.Atoi(t.s)
	switch {
	case perr != nil:
		return c.errAt(t, "an extended access list number (100-199, 2000-2699)", "")
	case (n >= 1 && n <= 99) || (n >= 1300 && n <= 1999):
		return c.errAt(t, "an extended access list number (100-199, 2000-2699)",
			"standard access lists match sources only; the gateway needs destinations")
	case !((n >= 100 && n <= 199) || (n >= 2000 && n <= 2699)):
		return c.errAt(t, "an extended access list number (100-199, 2000-2699)", "")
	}
	acl, err := p.aclNamed(c, t, true)
	if err != nil {
		return err
	}
	if c.peek() == "remark" {
		c.i++
		acl.Remarks = append(acl.Remarks, c.rest())
		return nil
	}
	seq := 10
	if len(acl.Entries) > 0 {
		seq = acl.Entries[len(acl.Entries)-1].Seq + 10
	}
	return p.aclEntry(c, acl, seq)
}

func (p *parser) aclNamed(c *cursor, t token, numbered bool) (*ACL, error) {
	acl := p.acls[t.s]
	if acl == nil {
		acl = &ACL{Name: t.s, Numbered: numbered, Pos: Pos{c.l.num, c.l.toks[0].col}}
		if !numbered {
			if n, err := strconv.Atoi(t.s); err == nil && ((n >= 100 && n <= 199) || (n >= 2000 && n <= 2699)) {
				acl.Numbered = true
			}
		}
		p.acls[t.s] = acl
		p.cfg.ACLs = append(p.cfg.ACLs, acl)
	}
	return acl, nil
}

// An indented line of ip access-list extended NAME: [SEQ] permit|deny ..., remark, exit.
func (p *parser) aclLine(c *cursor) error {
	acl := p.acl
	switch c.peek() {
	case "exit":
		c.i++
		p.block = noBlock
		return c.end()
	case "remark":
		c.i++
		acl.Remarks = append(acl.Remarks, c.rest())
		return nil
	}
	seq := 10
	if len(acl.Entries) > 0 {
		seq = acl.Entries[len(acl.Entries)-1].Seq + 10
	}
	if t := c.l.toks[0]; t.s[0] >= '0' && t.s[0] <= '9' {
		n, err := strconv.Atoi(t.s)
		if err != nil || n < 1 || n > 2147483647 {
			return c.errAt(t, "a sequence number (1-2147483647)", "")
		}
		for _, e := range acl.Entries {
			if e.Seq == n {
				return c.errAt(t, "an unused sequence number", fmt.Sprintf("entry %d is already on line %d", n, e.Pos.Line))
			}
		}
		seq = n
		c.i++
	}
	return p.aclEntry(c, acl, seq)
}

// {permit|deny} tcp SRC [op port] DST [op port]
func (p *parser) aclEntry(c *cursor, acl *ACL, seq int) error {
	if len(acl.Entries) >= MaxACLEntries {
		return c.errHere("", fmt.Sprintf("access list %s has more than %d entries", acl.Name, MaxACLEntries))
	}
	start := c.l.toks[0].col
	action, _, err := c.keyword("permit", "deny", "remark")
	if err != nil {
		return err
	}
	if action == "remark" {
		acl.Remarks = append(acl.Remarks, c.rest())
		return nil
	}
	// ip matches every protocol, TCP included; other protocols never
	// match a TCP connection.
	proto, _, err := c.keywordWhy("the gateway forwards TCP only; an entry for another protocol never matches a TCP connection", "tcp", "ip")
	if err != nil {
		return err
	}
	e := &ACLEntry{Seq: seq, Action: Action(action), Protocol: proto, Pos: Pos{c.l.num, start}}
	if e.Source, err = p.addrMatch(c, "a source (any, host A, or A WILDCARD)"); err != nil {
		return err
	}
	if proto == "tcp" {
		if e.SourcePort, err = p.portMatch(c); err != nil {
			return err
		}
	}
	if c.i < len(c.l.toks) {
		e.DestPos = Pos{c.l.num, c.l.toks[c.i].col}
	}
	if e.Dest, err = p.addrMatch(c, "a destination (any, host A, or A WILDCARD)"); err != nil {
		return err
	}
	e.PortPos = Pos{c.l.num, len(c.l.text) + 1}
	if c.i < len(c.l.toks) {
		e.PortPos = Pos{c.l.num, c.l.toks[c.i].col}
	}
	if proto == "tcp" {
		if e.DestPort, err = p.portMatch(c); err != nil {
			return err
		}
	}
	if err := c.end(); err != nil {
		return err
	}
	i, _ := slices.BinarySearchFunc(acl.Entries, seq, func(x *ACLEntry, s int) int { return x.Seq - s })
	acl.Entries = slices.Insert(acl.Entries, i, e)
	return nil
}

func (p *parser) addrMatch(c *cursor, expected string) (AddrMatch, error) {
	t, err := c.next(expected)
	if err != nil {
		return AddrMatch{}, err
	}
	switch strings.ToLower(t.s) {
	case "any":
		return AddrMatch{Any: true}, nil
	case "host":
		a, _, err := p.ipv4(c, "an IPv4 address")
		if err != nil {
			return AddrMatch{}, err
		}
		return AddrMatch{Address: a, Wildcard: netip.IPv4Unspecified()}, nil
	}
	a, err := netip.ParseAddr(t.s)
	if err != nil || !a.Is4() {
		return AddrMatch{}, c.errAt(t, expected, "")
	}
	w, _, err := p.ipv4(c, "a wildcard mask")
	if err != nil {
		return AddrMatch{}, err
	}
	return AddrMatch{Address: fromU32(u32(a) &^ u32(w)), Wildcard: w}, nil
}

func (p *parser) portMatch(c *cursor) (PortMatch, error) {
	op := c.peek()
	switch op {
	case "eq", "neq":
		c.i++
		m := PortMatch{Op: op}
		port, _, err := p.port(c)
		if err != nil {
			return m, err
		}
		m.Ports = append(m.Ports, port)
		// IOS takes up to ten ports after eq/neq.
		for c.more() && len(m.Ports) < 10 {
			q, ok := parsePort(c.l.toks[c.i].s)
			if !ok {
				break
			}
			m.Ports = append(m.Ports, q)
			c.i++
		}
		return m, nil
	case "lt", "gt":
		c.i++
		port, _, err := p.port(c)
		return PortMatch{Op: op, Ports: []uint16{port}}, err
	case "range":
		c.i++
		lo, _, err := p.port(c)
		if err != nil {
			return PortMatch{}, err
		}
		hi, hiTok, err := p.port(c)
		if err != nil {
			return PortMatch{}, err
		}
		if hi < lo {
			return PortMatch{}, c.errAt(hiTok, fmt.Sprintf("an upper port not below %d", lo), "")
		}
		return PortMatch{Op: op, Ports: []uint16{lo, hi}}, nil
	}
	return PortMatch{}, nil
}

func (p *parser) port(c *cursor) (uint16, token, error) {
	const expected = "a port number (0-65535) or name (ftp, ftp-data, www, ...)"
	t, err := c.next(expected)
	if err != nil {
		return 0, t, err
	}
	v, ok := parsePort(t.s)
	if !ok {
		return 0, t, c.errAt(t, expected, "")
	}
	return v, t, nil
}

func parsePort(s string) (uint16, bool) {
	if v, ok := tcpPortNames[strings.ToLower(s)]; ok {
		return v, true
	}
	n, err := strconv.ParseUint(s, 10, 16)
	return uint16(n), err == nil
}

func (p *parser) ipv4(c *cursor, expected string) (netip.Addr, token, error) {
	t, err := c.next(expected)
	if err != nil {
		return netip.Addr{}, t, err
	}
	a, perr := netip.ParseAddr(t.s)
	if perr != nil || !a.Is4() {
		return netip.Addr{}, t, c.errAt(t, expected, "")
	}
	return a, t, nil
}

// netmask reads a dotted mask and returns its prefix length; IOS rejects
// non-contiguous masks ("% Invalid netmask") and so do we.
func (p *parser) netmask(c *cursor) (int, error) {
	const expected = "a netmask (contiguous, like 255.255.255.0)"
	m, t, err := p.ipv4(c, expected)
	if err != nil {
		return 0, err
	}
	v := u32(m)
	ones := 0
	for ones < 32 && v&(1<<(31-ones)) != 0 {
		ones++
	}
	if ones < 32 && v<<ones != 0 {
		return 0, c.errAt(t, expected, "")
	}
	return ones, nil
}

// rotary coordinate pool NAME passive-range LO HI [public-ip ADDRESS]
func (p *parser) coordinate(c *cursor, pos Pos) error {
	if _, _, err := c.keyword("pool"); err != nil {
		return err
	}
	t, err := c.next("a pool name")
	if err != nil {
		return err
	}
	co := &Coordinate{Pool: t.s, Pos: pos, NamePos: Pos{c.l.num, t.col}}
	if _, _, err := c.keyword("passive-range"); err != nil {
		return err
	}
	if co.Lo, _, err = p.port(c); err != nil {
		return err
	}
	hi, ht, err := p.port(c)
	if err != nil {
		return err
	}
	if hi < co.Lo || co.Lo == 0 {
		return c.errAt(ht, fmt.Sprintf("an upper port not below %d (and a lower port above 0)", co.Lo), "")
	}
	co.Hi = hi
	if c.more() {
		if _, _, err := c.keyword("public-ip"); err != nil {
			return err
		}
		at, err := c.next("an IPv4 or IPv6 address")
		if err != nil {
			return err
		}
		a, perr := netip.ParseAddr(at.s)
		if perr != nil || a.Zone() != "" {
			return c.errAt(at, "an IPv4 or IPv6 address", "")
		}
		co.PublicIP = a.Unmap()
	}
	for _, o := range p.cfg.Rotary.Coordinate {
		if o.Pool == co.Pool {
			return c.errAt(t, "a pool not coordinated yet", fmt.Sprintf("pool %s is coordinated on line %d", co.Pool, o.Pos.Line))
		}
	}
	p.cfg.Rotary.Coordinate = append(p.cfg.Rotary.Coordinate, co)
	return c.end()
}

// rotary proxy-protocol v2 {pool NAME | static [GLOBAL GPORT]}
// rotary health-check {interval SECONDS | off}
// rotary coordinate pool NAME passive-range LO HI [public-ip ADDRESS]
func (p *parser) rotary(c *cursor, first token) error {
	if p.opts.Strict {
		return c.errAt(first, "an IOS command", "Rotary extensions are off in strict IOS mode")
	}
	kw, _, err := c.keyword("proxy-protocol", "health-check", "coordinate")
	if err != nil {
		return err
	}
	pos := Pos{c.l.num, first.col}
	if kw == "coordinate" {
		return p.coordinate(c, pos)
	}
	if kw == "health-check" {
		what, _, err := c.keyword("interval", "off")
		if err != nil {
			return err
		}
		if what == "off" {
			p.cfg.Rotary.HealthCheck = HealthCheck{Off: true}
			return c.end()
		}
		t, err := c.next("a number of seconds (1-3600)")
		if err != nil {
			return err
		}
		n, perr := strconv.Atoi(t.s)
		if perr != nil || n < 1 || n > 3600 {
			return c.errAt(t, "a number of seconds (1-3600)", "")
		}
		p.cfg.Rotary.HealthCheck = HealthCheck{IntervalSeconds: n}
		return c.end()
	}
	if _, _, err := c.keyword("v2"); err != nil {
		return err
	}
	target, _, err := c.keyword("pool", "static")
	if err != nil {
		return err
	}
	pp := ProxyProtocol{Version: 2, Pos: pos}
	if target == "pool" {
		t, err := c.next("a pool name")
		if err != nil {
			return err
		}
		pp.Pool, pp.NamePos = t.s, Pos{c.l.num, t.col}
	} else {
		pp.Static = true
		if c.more() {
			a, at, err := p.ipv4(c, "an inside global address")
			if err != nil {
				return err
			}
			port, _, err := p.port(c)
			if err != nil {
				return err
			}
			pp.Global, pp.NamePos = netip.AddrPortFrom(a, port), Pos{c.l.num, at.col}
		}
	}
	if err := c.end(); err != nil {
		return err
	}
	p.cfg.Rotary.ProxyProtocol = append(p.cfg.Rotary.ProxyProtocol, pp)
	return nil
}

// finish resolves names across the file and checks the inside hosts
// against the interfaces.
func (p *parser) finish() error {
	errAt := func(pos Pos, tok, expected, detail string) error {
		return &Error{File: p.file, Line: pos.Line, Column: pos.Column, Token: tok, Expected: expected, Detail: detail}
	}
	usedACL, usedPool := map[string]bool{}, map[string]bool{}
	for _, r := range p.cfg.DestinationRules {
		if p.acls[r.ACL] == nil {
			return errAt(r.ACLPos, r.ACL, "an access list defined in this file", p.skippedDetail("access list "+r.ACL))
		}
		if p.pools[r.Pool] == nil {
			return errAt(r.PoolPos, r.Pool, "a pool defined in this file", p.skippedDetail("pool "+r.Pool))
		}
		usedACL[r.ACL], usedPool[r.Pool] = true, true
	}
	for _, sv := range p.cfg.FTPALG.Services {
		if p.acls[sv.ACL] == nil {
			return errAt(sv.ACLPos, sv.ACL, "an access list defined in this file", p.skippedDetail("access list "+sv.ACL))
		}
		usedACL[sv.ACL] = true
	}
	for _, pp := range p.cfg.Rotary.ProxyProtocol {
		if pp.Pool != "" && p.pools[pp.Pool] == nil {
			return errAt(pp.NamePos, pp.Pool, "a pool defined in this file", "")
		}
		if pp.Global.IsValid() && !slices.ContainsFunc(p.cfg.StaticMaps, func(s *StaticMap) bool { return s.Global == pp.Global }) {
			return errAt(pp.NamePos, pp.Global.Addr().String(), "the inside global address and port of an ip nat inside source static line", "")
		}
	}
	for _, co := range p.cfg.Rotary.Coordinate {
		if p.pools[co.Pool] == nil {
			return errAt(co.NamePos, co.Pool, "a pool defined in this file", p.skippedDetail("pool "+co.Pool))
		}
		if p.cfg.Rotary.ProxyVersionForPool(co.Pool) != 2 {
			return errAt(co.NamePos, co.Pool, "a pool with rotary proxy-protocol v2",
				"coordinated mode tells each member its passive slice in the PROXY v2 header; add `rotary proxy-protocol v2 pool "+co.Pool+"`")
		}
	}
	for _, a := range p.cfg.ACLs {
		if !usedACL[a.Name] {
			p.warnings = append(p.warnings, Warning{File: p.file, Line: a.Pos.Line, Column: a.Pos.Column,
				Message: fmt.Sprintf("access list %s is not used by any ip nat inside destination rule", a.Name)})
		}
	}
	for _, pl := range p.cfg.Pools {
		if !usedPool[pl.Name] {
			p.warnings = append(p.warnings, Warning{File: p.file, Line: pl.Pos.Line, Column: pl.Pos.Column,
				Message: fmt.Sprintf("pool %s is not used by any ip nat inside destination rule", pl.Name)})
		}
	}
	return p.cfg.checkInside()
}

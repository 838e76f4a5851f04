package ftp

import (
	"path"
	"sort"
	"strings"

	"github.com/rotary-ftp/rotary/internal/storage"
)

// argRule says whether a command takes an argument.
type argRule uint8

const (
	argNone     argRule = iota // extra text is ignored (clients send "PASV " and the like)
	argOptional                // may have an argument
	argRequired                // 501 without one
)

// command is one row of the command table.
type command struct {
	fn    func(s *session, arg string)
	login bool    // needs a logged-in user, else 530
	arg   argRule // argument rule
	// duringTransfer commands are handled while a transfer runs (RFC 959
	// 4.1.3: ABOR and STAT); every other command waits for the transfer to
	// end, which keeps replies in order for pipelining clients.
	duringTransfer bool
	// data commands open a data connection; under TLSOptions.Require they
	// need PROT P.
	data bool
	// needs is what the storage must do for the command to exist for this
	// session: without it the command answers 502 and HELP and FEAT leave
	// it out. afterREST is needed on top when a REST offset is pending
	// (REST n + STOR resumes an upload): without it, 504.
	needs, afterREST storage.Capabilities
	help             string // syntax shown by HELP
}

// commands is the command table. It is filled in init because handlers refer
// back to it (HELP and FEAT are generated from it).
var commands map[string]*command

// aliases are the RFC 775 X-variants.
var aliases = map[string]string{
	"XCWD": "CWD", "XCUP": "CDUP", "XMKD": "MKD", "XRMD": "RMD", "XPWD": "PWD",
}

func init() {
	commands = map[string]*command{
		// Access control (RFC 959 4.1.1).
		"USER": {fn: (*session).handleUSER, arg: argRequired, help: "USER <name>"},
		"PASS": {fn: (*session).handlePASS, arg: argOptional, help: "PASS <password>"},
		"ACCT": {fn: (*session).handleACCT, arg: argRequired, help: "ACCT <account>"},
		"CWD":  {fn: (*session).handleCWD, login: true, arg: argRequired, help: "CWD <path>"},
		"CDUP": {fn: (*session).handleCDUP, login: true, help: "CDUP"},
		"REIN": {fn: (*session).handleREIN, help: "REIN"},
		"QUIT": {fn: (*session).handleQUIT, help: "QUIT"},
		"HOST": {fn: (*session).handleHOST, arg: argRequired, help: "HOST <domain>"},
		// Security (RFC 2228, RFC 4217).
		"AUTH": {fn: (*session).handleAUTH, arg: argRequired, help: "AUTH TLS"},
		"PBSZ": {fn: (*session).handlePBSZ, arg: argRequired, help: "PBSZ 0"},
		"PROT": {fn: (*session).handlePROT, arg: argRequired, help: "PROT {C|P}"},
		"CCC":  {fn: (*session).handleCCC, login: true, help: "CCC"},
		// Transfer parameters (RFC 959 4.1.2, RFC 2428).
		"PORT": {fn: (*session).handlePORT, login: true, arg: argRequired, help: "PORT h1,h2,h3,h4,p1,p2"},
		"PASV": {fn: (*session).handlePASV, login: true, help: "PASV"},
		"EPRT": {fn: (*session).handleEPRT, login: true, arg: argRequired, help: "EPRT |proto|addr|port|"},
		"EPSV": {fn: (*session).handleEPSV, login: true, arg: argOptional, help: "EPSV [1|2|ALL]"},
		"TYPE": {fn: (*session).handleTYPE, login: true, arg: argRequired, help: "TYPE {A|I|L 8}"},
		"STRU": {fn: (*session).handleSTRU, login: true, arg: argRequired, help: "STRU F"},
		"MODE": {fn: (*session).handleMODE, login: true, arg: argRequired, help: "MODE S"},
		// Service commands (RFC 959 4.1.3).
		"RETR": {fn: (*session).handleRETR, login: true, data: true, arg: argRequired, help: "RETR <path>"},
		"STOR": {fn: (*session).handleSTOR, login: true, data: true, afterREST: storage.CapResume, arg: argRequired, help: "STOR <path>"},
		"STOU": {fn: (*session).handleSTOU, login: true, data: true, needs: storage.CapExclusive, arg: argOptional, help: "STOU [<name>]"},
		"APPE": {fn: (*session).handleAPPE, login: true, data: true, needs: storage.CapAppend, afterREST: storage.CapResume, arg: argRequired, help: "APPE <path>"},
		"ALLO": {fn: (*session).handleALLO, login: true, arg: argOptional, help: "ALLO <bytes>"},
		"REST": {fn: (*session).handleREST, login: true, arg: argRequired, help: "REST <offset>"},
		"RNFR": {fn: (*session).handleRNFR, login: true, needs: storage.CapRename, arg: argRequired, help: "RNFR <path>"},
		"RNTO": {fn: (*session).handleRNTO, login: true, needs: storage.CapRename, arg: argRequired, help: "RNTO <path>"},
		"ABOR": {fn: (*session).handleABOR, login: true, duringTransfer: true, help: "ABOR"},
		"DELE": {fn: (*session).handleDELE, login: true, arg: argRequired, help: "DELE <path>"},
		"RMD":  {fn: (*session).handleRMD, login: true, arg: argRequired, help: "RMD <path>"},
		"MKD":  {fn: (*session).handleMKD, login: true, arg: argRequired, help: "MKD <path>"},
		"PWD":  {fn: (*session).handlePWD, login: true, help: "PWD"},
		"LIST": {fn: (*session).handleLIST, login: true, data: true, arg: argOptional, help: "LIST [<path>]"},
		"NLST": {fn: (*session).handleNLST, login: true, data: true, arg: argOptional, help: "NLST [<path>]"},
		"SITE": {fn: (*session).handleSITE, login: true, arg: argRequired, help: "SITE <command> (SITE HELP lists them)"},
		"SYST": {fn: (*session).handleSYST, help: "SYST"},
		"STAT": {fn: (*session).handleSTAT, arg: argOptional, duringTransfer: true, help: "STAT [<path>]"},
		"HELP": {fn: (*session).handleHELP, arg: argOptional, help: "HELP [<command>]"},
		"NOOP": {fn: (*session).handleNOOP, help: "NOOP"},
		// Extensions: RFC 2389, 3659, 2640, draft-bryan-ftpext-hash, draft-somers-ftp-mfxx.
		"FEAT": {fn: (*session).handleFEAT, help: "FEAT"},
		"OPTS": {fn: (*session).handleOPTS, arg: argRequired, help: "OPTS <command> [<options>]"},
		"SIZE": {fn: (*session).handleSIZE, login: true, arg: argRequired, help: "SIZE <path>"},
		"MDTM": {fn: (*session).handleMDTM, login: true, arg: argRequired, help: "MDTM <path>"},
		"MFMT": {fn: (*session).handleMFMT, login: true, needs: storage.CapChtimes, arg: argRequired, help: "MFMT YYYYMMDDHHMMSS <path>"},
		"MLST": {fn: (*session).handleMLST, login: true, arg: argOptional, help: "MLST [<path>]"},
		"MLSD": {fn: (*session).handleMLSD, login: true, data: true, arg: argOptional, help: "MLSD [<path>]"},
		"HASH": {fn: (*session).handleHASH, login: true, arg: argRequired, help: "HASH <path>"},
	}
}

// parseCommand splits a command line into its upper-cased verb and its
// argument. RFC 959 separates them with one space; the argument is kept as
// sent after that space, since file names may start or end with spaces.
func parseCommand(line string) (verb, arg string) {
	verb, arg, _ = strings.Cut(line, " ")
	// Upper-case without allocating for the common already-upper case.
	for i := 0; i < len(verb); i++ {
		if c := verb[i]; c >= 'a' && c <= 'z' {
			verb = strings.ToUpper(verb)
			break
		}
	}
	return verb, arg
}

// dispatch runs one command.
func (s *session) dispatch(verb, arg string) {
	if real, ok := aliases[verb]; ok {
		verb = real
	}
	cmd, ok := commands[verb]
	if (!ok || !cmd.duringTransfer) && s.transferRunning() {
		s.enqueue(verb, arg)
		return
	}
	if !ok {
		s.protocolError(500, "Unknown command "+quoteVerb(verb))
		return
	}
	if cmd.login && s.acct == nil {
		s.reply(530, "Please login with USER and PASS")
		return
	}
	if err := s.capable(cmd); err != nil {
		s.replyErr(err)
		if cmd.data {
			s.discardData()
		}
		return
	}
	if cmd.arg == argRequired && arg == "" {
		s.protocolError(501, "Syntax error: "+cmd.help)
		return
	}
	if cmd.data && !s.dataProtectionOK() {
		s.discardData()
		return
	}
	s.errors = 0
	// RFC 959: RNTO must immediately follow RNFR.
	if verb != "RNFR" && verb != "RNTO" {
		s.renameFrom = ""
	}
	cmd.fn(s, arg)
}

// capabilities is what this session's storage does: the logged-in
// account's driver, or before login what the Backend says its accounts get
// (CapabilityReporter), or else everything.
func (s *session) capabilities() storage.Capabilities {
	if s.acct != nil {
		return s.acct.FS.Capabilities()
	}
	if r, ok := s.srv.Backend.(CapabilityReporter); ok {
		return r.Capabilities()
	}
	return storage.CapAll
}

// capable checks a command's row against the storage's capabilities. The
// error is a storage one, so errorReply gives the code: 502 for a command
// the storage cannot do, 504 for one it cannot do after REST.
func (s *session) capable(cmd *command) error {
	if cmd.needs == 0 && cmd.afterREST == 0 {
		return nil
	}
	caps := s.capabilities()
	if !caps.Has(cmd.needs) {
		return storage.Unsupported("command", cmd.help)
	}
	if s.restOffset > 0 && !caps.Has(cmd.afterREST) {
		return storage.UnsupportedParameter("command", cmd.help, "restart offset")
	}
	return nil
}

// available reports whether a command exists for this session's storage
// (HELP lists only those).
func (s *session) available(cmd *command) bool {
	return s.capabilities().Has(cmd.needs)
}

// quoteVerb keeps log-injection and terminal garbage out of replies.
func quoteVerb(v string) string {
	if len(v) > 16 {
		v = v[:16] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, v)
}

// resolve turns a client path into a clean absolute path in the user's tree.
// path.Clean on a rooted path never climbs above "/", so ".." cannot leave
// the tree here; the storage driver (os.Root) guards symlinks.
func (s *session) resolve(arg string) string {
	if arg == "" {
		return s.cwd
	}
	if !strings.HasPrefix(arg, "/") {
		arg = s.cwd + "/" + arg
	}
	return path.Clean(arg)
}

// allowed checks a permission and answers 550 when it is missing.
func (s *session) allowed(p Perm) bool {
	if s.acct.Perm&p == p {
		return true
	}
	s.reply(550, "Permission denied")
	return false
}

func sortedVerbs() []string {
	verbs := make([]string, 0, len(commands)+len(aliases))
	for v := range commands {
		verbs = append(verbs, v)
	}
	for v := range aliases {
		verbs = append(verbs, v)
	}
	sort.Strings(verbs)
	return verbs
}

// queued is a command that arrived during a transfer.
type queued struct{ verb, arg string }

// Commands held behind a transfer are bounded by count and by size. The
// command loop never stops reading while a transfer runs, because ABOR may
// come behind any number of queued commands (RFC 959 4.1.3); a client that
// pipelines past the bound (no real client does: lftp and FileZilla queue at
// most a handful) loses its session with 421 instead of growing the queue.
const (
	maxQueued      = 256
	maxQueuedBytes = 64 << 10
)

func (s *session) enqueue(verb, arg string) {
	if len(s.queue) >= maxQueued || s.queuedBytes+len(verb)+len(arg) > maxQueuedBytes {
		s.log.Info("too many commands queued behind a transfer, closing", "queued", len(s.queue), "bytes", s.queuedBytes)
		s.abortTransfer()
		s.queue, s.queuedBytes = nil, 0
		s.reply(421, "Too many commands queued behind a transfer, closing control connection")
		s.quit.Store(true)
		return
	}
	s.queue = append(s.queue, queued{verb, arg})
	s.queuedBytes += len(verb) + len(arg)
}

// dequeue takes the oldest queued command.
func (s *session) dequeue() queued {
	q := s.queue[0]
	s.queue = s.queue[1:]
	s.queuedBytes -= len(q.verb) + len(q.arg)
	return q
}

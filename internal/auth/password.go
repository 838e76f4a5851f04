package auth

// Password hashes. The users file stores only hashes: argon2id in the PHC
// string format, which HashPassword writes, and bcrypt ($2a$, $2b$, $2y$),
// which htpasswd and most other tools write. Plain text is never accepted.
//
// Security notes:
//   - The parameters of a stored hash decide what checking it costs, and the
//     users file is read at start-up, so a careless or hostile file could make
//     every login take minutes or gigabytes. Parameters beyond the bounds below
//     are refused as malformed: that user cannot log in.
//   - Every hash computation (HashPassword and VerifyPassword) holds one slot
//     of a semaphore with runtime.NumCPU() slots. At 19 MiB per argon2id
//     computation a login storm then costs at most NumCPU*19 MiB and queues
//     instead of exhausting memory.
//   - Comparisons of derived keys are constant-time.

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// ErrUnknownHashFormat is wrapped by VerifyPassword and CheckHash when a
// stored password is not a hash in a supported format, or is one with
// parameters out of bounds.
var ErrUnknownHashFormat = errors.New("unknown password hash format")

// The parameters HashPassword uses: OWASP's minimum for argon2id (m=19 MiB,
// t=2, p=1), a 16-byte salt and a 32-byte key.
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonSaltLen = 16
	argonKeyLen  = 32
)

// Bounds on the parameters of a stored hash (see the security notes above).
const (
	maxArgonMemory  = 1024 * 1024 // KiB: 1 GiB
	maxArgonTime    = 10
	maxArgonThreads = 16
	minArgonSaltLen = 8 // the PHC string format's minimum
	maxArgonSaltLen = 64
	minArgonKeyLen  = 16
	maxArgonKeyLen  = 128
	// bcrypt's cost is a power of two: 16 is about 5 s on a current core,
	// already far beyond what anyone stores (htpasswd's default is 5).
	maxBcryptCost = 16
)

// hashSlots bounds concurrent hash computations (see the security notes).
var hashSlots = make(chan struct{}, runtime.NumCPU())

func acquireHashSlot() func() {
	hashSlots <- struct{}{}
	return func() { <-hashSlots }
}

// HashPassword returns an argon2id hash of pw in the PHC string format:
// $argon2id$v=19$m=19456,t=2,p=1$SALT$HASH, with SALT and HASH in unpadded
// standard base64.
func HashPassword(pw string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	release := acquireHashSlot()
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	release()
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// VerifyPassword reports whether pw matches encoded, an argon2id hash in the
// PHC string format or a bcrypt hash. A stored value in any other format, or
// with parameters out of bounds, gives false and an error wrapping
// ErrUnknownHashFormat; a wrong password gives false and no error.
func VerifyPassword(encoded, pw string) (bool, error) {
	if a, ok, err := parseArgon2id(encoded); ok {
		if err != nil {
			return false, err
		}
		release := acquireHashSlot()
		key := argon2.IDKey([]byte(pw), a.salt, a.time, a.memory, a.threads, uint32(len(a.key)))
		release()
		return subtle.ConstantTimeCompare(key, a.key) == 1, nil
	}
	if ok, err := checkBcrypt(encoded); ok {
		if err != nil {
			return false, err
		}
		release := acquireHashSlot()
		// Passwords over 72 bytes are compared on their first 72, as every
		// bcrypt implementation does.
		err := bcrypt.CompareHashAndPassword([]byte(encoded), []byte(pw))
		release()
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
			return false, nil
		default:
			return false, fmt.Errorf("%w: bcrypt: %v", ErrUnknownHashFormat, err)
		}
	}
	return false, unknownFormat(encoded)
}

// VerifyDummy does the work of VerifyPassword on an argon2id hash made by
// HashPassword, and fails. Called for an unknown or disabled user, it makes
// that login as slow as a wrong password for a real user, so the reply time
// does not tell which user names exist.
func VerifyDummy(pw string) {
	release := acquireHashSlot()
	argon2.IDKey([]byte(pw), dummySalt[:], argonTime, argonMemory, argonThreads, argonKeyLen)
	release()
}

var dummySalt [argonSaltLen]byte

// CheckHash reports, without computing anything, whether encoded is a hash
// VerifyPassword accepts. The error wraps ErrUnknownHashFormat and says what
// is wrong; it never quotes encoded, which may be a plain-text password.
func CheckHash(encoded string) error {
	if _, ok, err := parseArgon2id(encoded); ok {
		return err
	}
	if ok, err := checkBcrypt(encoded); ok {
		return err
	}
	return unknownFormat(encoded)
}

func unknownFormat(encoded string) error {
	switch {
	case encoded == "":
		return fmt.Errorf("%w: empty", ErrUnknownHashFormat)
	case !strings.HasPrefix(encoded, "$"):
		return fmt.Errorf("%w: not a hash (plain text is never accepted; want $argon2id$ or bcrypt)", ErrUnknownHashFormat)
	}
	id, _, _ := strings.Cut(encoded[1:], "$")
	if len(id) > 16 {
		id = id[:16] + "..."
	}
	return fmt.Errorf("%w: %q (want $argon2id$ or bcrypt $2a$, $2b$, $2y$)", ErrUnknownHashFormat, "$"+id+"$")
}

type argon2idHash struct {
	memory    uint32
	time      uint32
	threads   uint8
	salt, key []byte
}

// parseArgon2id parses $argon2id$v=19$m=M,t=T,p=P$SALT$HASH. ok reports
// whether encoded claims to be argon2id at all; err then says why it is
// malformed.
func parseArgon2id(encoded string) (h argon2idHash, ok bool, err error) {
	rest, ok := strings.CutPrefix(encoded, "$argon2id$")
	if !ok {
		return h, false, nil
	}
	bad := func(format string, a ...any) (argon2idHash, bool, error) {
		return argon2idHash{}, true, fmt.Errorf("%w: argon2id: %s", ErrUnknownHashFormat, fmt.Sprintf(format, a...))
	}
	f := strings.Split(rest, "$")
	if len(f) != 4 {
		return bad("want $argon2id$v=19$m=M,t=T,p=P$SALT$HASH")
	}
	if f[0] != "v=19" {
		return bad("version %q not supported (want v=19)", f[0])
	}
	var m, t, p uint64
	params := strings.Split(f[1], ",")
	if len(params) != 3 {
		return bad("want parameters m=M,t=T,p=P")
	}
	for i, want := range []struct {
		name string
		dst  *uint64
		min  uint64
		max  uint64
	}{{"m", &m, 1, maxArgonMemory}, {"t", &t, 1, maxArgonTime}, {"p", &p, 1, maxArgonThreads}} {
		v, ok := strings.CutPrefix(params[i], want.name+"=")
		if !ok {
			return bad("want parameters m=M,t=T,p=P")
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n < want.min || n > want.max {
			return bad("%s=%s out of bounds (%d to %d)", want.name, v, want.min, want.max)
		}
		*want.dst = n
	}
	if m < 8*p {
		return bad("m=%d below 8*p", m)
	}
	salt, err := base64.RawStdEncoding.Strict().DecodeString(f[2])
	if err != nil || len(salt) < minArgonSaltLen || len(salt) > maxArgonSaltLen {
		return bad("salt is not %d to %d bytes of unpadded base64", minArgonSaltLen, maxArgonSaltLen)
	}
	key, err := base64.RawStdEncoding.Strict().DecodeString(f[3])
	if err != nil || len(key) < minArgonKeyLen || len(key) > maxArgonKeyLen {
		return bad("hash is not %d to %d bytes of unpadded base64", minArgonKeyLen, maxArgonKeyLen)
	}
	return argon2idHash{memory: uint32(m), time: uint32(t), threads: uint8(p), salt: salt, key: key}, true, nil
}

// checkBcrypt checks the shape of a bcrypt hash: $2a$, $2b$ or $2y$, a
// two-digit cost, then 53 characters of bcrypt's base64 (22 of salt, 31 of
// hash). ok reports whether encoded claims to be bcrypt at all.
func checkBcrypt(encoded string) (ok bool, err error) {
	if len(encoded) < 4 || !strings.HasPrefix(encoded, "$2") || encoded[3] != '$' ||
		(encoded[2] != 'a' && encoded[2] != 'b' && encoded[2] != 'y') {
		return false, nil
	}
	if len(encoded) != 60 || encoded[6] != '$' {
		return true, fmt.Errorf("%w: bcrypt: want $2b$CC$ and 53 characters", ErrUnknownHashFormat)
	}
	cost, err := strconv.Atoi(encoded[4:6])
	if err != nil || cost < bcrypt.MinCost || cost > maxBcryptCost {
		return true, fmt.Errorf("%w: bcrypt: cost %q out of bounds (%d to %d)", ErrUnknownHashFormat, encoded[4:6], bcrypt.MinCost, maxBcryptCost)
	}
	for _, c := range []byte(encoded[7:]) {
		if !(c == '.' || c == '/' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return true, fmt.Errorf("%w: bcrypt: invalid character in salt or hash", ErrUnknownHashFormat)
		}
	}
	return true, nil
}

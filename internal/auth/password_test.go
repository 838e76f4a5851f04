package auth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

func TestHashPasswordFormat(t *testing.T) {
	h, err := HashPassword("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !re.MatchString(h) {
		t.Fatalf("HashPassword = %q, want %v", h, re)
	}
	h2, _ := HashPassword("s3cret")
	if h == h2 {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	if err := CheckHash(h); err != nil {
		t.Errorf("CheckHash(own hash) = %v", err)
	}
}

// argon2idPHC builds a PHC string with the given parameters, independently
// of HashPassword.
func argon2idPHC(pw string, m, tm uint32, p uint8) string {
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte(pw), salt, tm, m, p, 32)
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", m, tm, p,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

func TestVerifyPassword(t *testing.T) {
	own, err := HashPassword("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	bc, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	b := string(bc) // $2a$04$...
	tests := []struct {
		name, hash, pw string
		want           bool
	}{
		{"argon2id own", own, "s3cret", true},
		{"argon2id own wrong", own, "s3cret!", false},
		{"argon2id own empty", own, "", false},
		{"argon2id other params", argon2idPHC("pw", 64, 1, 2), "pw", true},
		{"argon2id other params wrong", argon2idPHC("pw", 64, 1, 2), "pW", false},
		{"argon2id at bounds", argon2idPHC("pw", 8*16, 10, 16), "pw", true},
		{"bcrypt 2a", b, "s3cret", true},
		{"bcrypt 2a wrong", b, "S3cret", false},
		{"bcrypt 2b", "$2b$" + b[4:], "s3cret", true},
		{"bcrypt 2y", "$2y$" + b[4:], "s3cret", true},
		{"bcrypt 2y wrong", "$2y$" + b[4:], "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := VerifyPassword(tt.hash, tt.pw)
			if err != nil || got != tt.want {
				t.Errorf("VerifyPassword = %v, %v; want %v, nil", got, err, tt.want)
			}
		})
	}
}

func TestVerifyPasswordUnknownFormat(t *testing.T) {
	good := argon2idPHC("pw", 64, 1, 1)
	f := strings.Split(good, "$") // "", argon2id, v=19, m=..., salt, hash
	salt, key := f[4], f[5]
	bc, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	b := string(bc)
	tests := []struct{ name, hash, detail string }{
		{"empty", "", "empty"},
		{"plain text", "pw", "plain text is never accepted"},
		{"plain text with dollar", "$pw", `"$pw$"`},
		{"argon2i", "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key, `"$argon2i$"`},
		{"argon2d", "$argon2d$v=19$m=64,t=1,p=1$" + salt + "$" + key, `"$argon2d$"`},
		{"md5crypt", "$1$abcdefgh$0123456789012345678901", `"$1$"`},
		{"sha512crypt", "$6$rounds=5000$salt$hash", `"$6$"`},
		{"ldap sha", "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "plain text"},
		{"argon2id old version", "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key, "version"},
		{"argon2id no version", "$argon2id$m=64,t=1,p=1$" + salt + "$" + key, "want $argon2id$"},
		{"argon2id extra field", good + "$x", "want $argon2id$"},
		{"argon2id params order", "$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key, "want parameters"},
		{"argon2id keyid param", "$argon2id$v=19$m=64,t=1,p=1,keyid=x$" + salt + "$" + key, "want parameters"},
		{"argon2id m=0", "$argon2id$v=19$m=0,t=1,p=1$" + salt + "$" + key, "m=0 out of bounds"},
		{"argon2id m over 1GiB", "$argon2id$v=19$m=1048577,t=1,p=1$" + salt + "$" + key, "m=1048577 out of bounds"},
		{"argon2id m huge", "$argon2id$v=19$m=99999999999,t=1,p=1$" + salt + "$" + key, "out of bounds"},
		{"argon2id m below 8p", "$argon2id$v=19$m=64,t=1,p=9$" + salt + "$" + key, "below 8*p"},
		{"argon2id t=0", "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key, "t=0 out of bounds"},
		{"argon2id t=11", "$argon2id$v=19$m=64,t=11,p=1$" + salt + "$" + key, "t=11 out of bounds"},
		{"argon2id p=0", "$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key, "p=0 out of bounds"},
		{"argon2id p=17", "$argon2id$v=19$m=256,t=1,p=17$" + salt + "$" + key, "p=17 out of bounds"},
		{"argon2id m negative", "$argon2id$v=19$m=-1,t=1,p=1$" + salt + "$" + key, "out of bounds"},
		{"argon2id salt padded", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + key, "salt"},
		{"argon2id salt short", "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$" + key, "salt"},
		{"argon2id salt not base64", "$argon2id$v=19$m=64,t=1,p=1$!!!!!!!!!!!!$" + key, "salt"},
		{"argon2id hash short", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$AAAA", "hash"},
		{"argon2id hash empty", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$", "hash"},
		{"bcrypt short", b[:59], "bcrypt"},
		{"bcrypt long", b + "x", "bcrypt"},
		{"bcrypt cost 31", "$2a$31$" + b[7:], "cost"},
		{"bcrypt cost 17", "$2a$17$" + b[7:], "cost"},
		{"bcrypt cost 03", "$2a$03$" + b[7:], "cost"},
		{"bcrypt cost letters", "$2a$xx$" + b[7:], "cost"},
		{"bcrypt bad char", b[:59] + "!", "invalid character"},
		{"bcrypt 2x", "$2x$" + b[4:], `"$2x$"`},
		{"bcrypt 2", "$2$" + b[4:], `"$2$"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := VerifyPassword(tt.hash, "pw")
			if ok || !errors.Is(err, ErrUnknownHashFormat) {
				t.Fatalf("VerifyPassword = %v, %v; want false, ErrUnknownHashFormat", ok, err)
			}
			if !strings.Contains(err.Error(), tt.detail) {
				t.Errorf("error %q does not say %q", err, tt.detail)
			}
			if cerr := CheckHash(tt.hash); cerr == nil || cerr.Error() != err.Error() {
				t.Errorf("CheckHash = %v, want %v", cerr, err)
			}
		})
	}
	// The error never repeats a plain-text password.
	if _, err := VerifyPassword("hunter2", "x"); strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %q quotes the stored value", err)
	}
}

// TestHashSlots checks that hash computations wait for a free slot: a
// login storm queues instead of holding NumCPU*19 MiB and more.
func TestHashSlots(t *testing.T) {
	if cap(hashSlots) != runtime.NumCPU() {
		t.Fatalf("%d slots, want runtime.NumCPU() = %d", cap(hashSlots), runtime.NumCPU())
	}
	h := argon2idPHC("pw", 64, 1, 1)
	for range cap(hashSlots) {
		hashSlots <- struct{}{}
	}
	done := make(chan bool)
	go func() {
		ok, _ := VerifyPassword(h, "pw")
		done <- ok
	}()
	select {
	case <-done:
		t.Fatal("VerifyPassword ran while every slot was taken")
	case <-time.After(50 * time.Millisecond):
	}
	<-hashSlots
	if ok := <-done; !ok {
		t.Error("VerifyPassword = false after a slot came free")
	}
	for range cap(hashSlots) - 1 {
		<-hashSlots
	}

	// VerifyDummy takes a slot too.
	for range cap(hashSlots) {
		hashSlots <- struct{}{}
	}
	dummyDone := make(chan struct{})
	go func() { VerifyDummy("pw"); close(dummyDone) }()
	select {
	case <-dummyDone:
		t.Fatal("VerifyDummy ran while every slot was taken")
	case <-time.After(50 * time.Millisecond):
	}
	for range cap(hashSlots) {
		<-hashSlots
	}
	<-dummyDone

	// Many at once, under -race.
	var wg sync.WaitGroup
	for range 4 * runtime.NumCPU() {
		wg.Go(func() {
			if ok, err := VerifyPassword(h, "pw"); !ok || err != nil {
				t.Errorf("VerifyPassword = %v, %v", ok, err)
			}
		})
	}
	wg.Wait()
	if len(hashSlots) != 0 {
		t.Errorf("%d slots still held", len(hashSlots))
	}
}

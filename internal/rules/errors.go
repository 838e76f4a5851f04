package rules

import "fmt"

// Error is a setting that cannot be turned into forwarding, or cannot be
// rendered faithfully in a format: "--outside-ip ftp.example.org: pf needs
// an IPv4 address". Errors about an IOS file are *ios.Error instead.
type Error struct {
	Setting string // "--outside-ip", "public-ip", "listen", "--format"
	Value   string
	Reason  string
}

func (e *Error) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("%s: %s", e.Setting, e.Reason)
	}
	return fmt.Sprintf("%s %s: %s", e.Setting, e.Value, e.Reason)
}

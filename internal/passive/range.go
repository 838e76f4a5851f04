package passive

import (
	"fmt"
	"strconv"
	"strings"
)

// Range is an inclusive port range, e.g. 5500-5520.
type Range struct{ Lo, Hi int }

// ParseRange parses "LO-HI" (e.g. "5500-5520") or a single port ("5500").
// Both ends must be in 1..65535 and LO must not be above HI.
func ParseRange(s string) (Range, error) {
	t := strings.TrimSpace(s)
	loS, hiS, isRange := strings.Cut(t, "-")
	if !isRange {
		hiS = loS
	}
	lo, err := parsePort(loS)
	if err != nil {
		return Range{}, fmt.Errorf("passive: invalid port range %q: %w", s, err)
	}
	hi, err := parsePort(hiS)
	if err != nil {
		return Range{}, fmt.Errorf("passive: invalid port range %q: %w", s, err)
	}
	r := Range{Lo: lo, Hi: hi}
	if err := r.validate(); err != nil {
		return Range{}, fmt.Errorf("passive: invalid port range %q: %w", s, err)
	}
	return r, nil
}

func parsePort(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("missing port number")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a port number", s)
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %s out of range 1..65535", s)
	}
	return n, nil
}

func (r Range) validate() error {
	switch {
	case r.Lo < 1 || r.Lo > 65535:
		return fmt.Errorf("port %d out of range 1..65535", r.Lo)
	case r.Hi < 1 || r.Hi > 65535:
		return fmt.Errorf("port %d out of range 1..65535", r.Hi)
	case r.Lo > r.Hi:
		return fmt.Errorf("low end above high end")
	}
	return nil
}

// Len returns the number of ports in the range (0 for an invalid range).
func (r Range) Len() int {
	if r.validate() != nil {
		return 0
	}
	return r.Hi - r.Lo + 1
}

// String returns "LO-HI", or just "LO" for a single port.
func (r Range) String() string {
	if r.Lo == r.Hi {
		return strconv.Itoa(r.Lo)
	}
	return strconv.Itoa(r.Lo) + "-" + strconv.Itoa(r.Hi)
}

// Contains reports whether port lies in the range.
func (r Range) Contains(port int) bool { return port >= r.Lo && port <= r.Hi }

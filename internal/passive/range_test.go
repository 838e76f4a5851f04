package passive

import (
	"strings"
	"testing"
)

func TestParseRange(t *testing.T) {
	tests := []struct {
		in      string
		want    Range
		wantErr string // substring of the error; "" means success
	}{
		{in: "5500-5520", want: Range{5500, 5520}},
		{in: "5500", want: Range{5500, 5500}},
		{in: " 5500 - 5520 ", want: Range{5500, 5520}},
		{in: "1-65535", want: Range{1, 65535}},
		{in: "65535", want: Range{65535, 65535}},
		{in: "5520-5500", wantErr: "low end above high end"},
		{in: "abc", wantErr: "not a port number"},
		{in: "5500-x", wantErr: "not a port number"},
		{in: "5500-5520-5530", wantErr: "not a port number"},
		{in: "+5500", wantErr: "not a port number"},
		{in: "-5500", wantErr: "missing port number"},
		{in: "5500-", wantErr: "missing port number"},
		{in: "", wantErr: "missing port number"},
		{in: "0-10", wantErr: "out of range"},
		{in: "0", wantErr: "out of range"},
		{in: "1-65536", wantErr: "out of range"},
		{in: "99999999999999999999999", wantErr: "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRange(tt.in)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseRange(%q) error: %v", tt.in, err)
				}
				if got != tt.want {
					t.Fatalf("ParseRange(%q) = %v, want %v", tt.in, got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseRange(%q) = %v, want error containing %q", tt.in, got, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseRange(%q) error %q does not contain %q", tt.in, err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), `"`+tt.in+`"`) {
				t.Errorf("ParseRange(%q) error %q does not name the input", tt.in, err)
			}
		})
	}
}

func TestRangeLenString(t *testing.T) {
	tests := []struct {
		r    Range
		len  int
		str  string
		in   []int
		notI []int
	}{
		{Range{5500, 5520}, 21, "5500-5520", []int{5500, 5510, 5520}, []int{5499, 5521}},
		{Range{5500, 5500}, 1, "5500", []int{5500}, []int{5501}},
		{Range{1, 65535}, 65535, "1-65535", []int{1, 65535}, []int{0}},
		{Range{10, 5}, 0, "10-5", nil, []int{7}},
		{Range{}, 0, "0", nil, []int{1}},
	}
	for _, tt := range tests {
		if got := tt.r.Len(); got != tt.len {
			t.Errorf("%#v.Len() = %d, want %d", tt.r, got, tt.len)
		}
		if got := tt.r.String(); got != tt.str {
			t.Errorf("%#v.String() = %q, want %q", tt.r, got, tt.str)
		}
		for _, p := range tt.in {
			if !tt.r.Contains(p) {
				t.Errorf("%v.Contains(%d) = false", tt.r, p)
			}
		}
		for _, p := range tt.notI {
			if tt.r.Contains(p) {
				t.Errorf("%v.Contains(%d) = true", tt.r, p)
			}
		}
		if tt.len > 0 {
			back, err := ParseRange(tt.str)
			if err != nil || back != tt.r {
				t.Errorf("ParseRange(%q) = %v, %v; want round trip to %v", tt.str, back, err, tt.r)
			}
		}
	}
}

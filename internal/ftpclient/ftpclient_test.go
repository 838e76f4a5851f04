package ftpclient

import "testing"

func TestParsePASV(t *testing.T) {
	tests := []struct {
		msg  string
		port int
		err  bool
	}{
		{"Entering Passive Mode (127,0,0,1,195,80).", 195<<8 | 80, false},
		{"Entering Passive Mode (127,0,0,1,195,80)", 195<<8 | 80, false},
		{"Entering Passive Mode 127,0,0,1,4,1", 4<<8 | 1, false},
		{"=127,0,0,1,0,21", 21, false},
		{"Entering Passive Mode (127,0,0,1,0,0).", 0, true},
		{"Entering Passive Mode (127,0,0,1,256,1).", 0, true},
		{"Entering Passive Mode (127,0,0,1,80).", 0, true},
		{"Entering Passive Mode.", 0, true},
	}
	for _, tt := range tests {
		got, err := ParsePASV(tt.msg)
		if tt.err != (err != nil) || got != tt.port {
			t.Errorf("ParsePASV(%q) = %d, %v; want %d (error %v)", tt.msg, got, err, tt.port, tt.err)
		}
	}
}

func TestParsePASVAddrAndEPSV(t *testing.T) {
	for msg, want := range map[string]string{
		"Entering Passive Mode (192,168,1,10,21,124).": "192.168.1.10:5500",
		"Entering Passive Mode 127,0,0,2,25,100":       "127.0.0.2:6500",
		"=10,0,0,1,0,21":                               "10.0.0.1:21",
	} {
		got, err := ParsePASVAddr(msg)
		if err != nil || got.String() != want {
			t.Errorf("ParsePASVAddr(%q) = %v, %v; want %s", msg, got, err, want)
		}
	}
	for _, bad := range []string{"Entering Passive Mode (1,2,3,4,0,0)", "(1,2,3,4,5)", "(1,2,3,256,1,1)", "no numbers"} {
		if _, err := ParsePASVAddr(bad); err == nil {
			t.Errorf("ParsePASVAddr(%q) accepted", bad)
		}
	}
	for msg, want := range map[string]int{"Entering Extended Passive Mode (|||5500|)": 5500, "ok (!!!6500!)": 6500} {
		if got, err := ParseEPSV(msg); err != nil || got != want {
			t.Errorf("ParseEPSV(%q) = %d, %v; want %d", msg, got, err, want)
		}
	}
	for _, bad := range []string{"(|||0|)", "(||5500|)", "(|||x|)", "Extended Passive Mode", "(|||70000|)"} {
		if _, err := ParseEPSV(bad); err == nil {
			t.Errorf("ParseEPSV(%q) accepted", bad)
		}
	}
}

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

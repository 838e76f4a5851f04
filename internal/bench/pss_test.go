package bench

import (
	"testing"
	"testing/fstest"
)

const rollupSample = `55d0c7e4a000-7ffd6e9f8000 ---p 00000000 00:00 0                          [rollup]
Rss:               12180 kB
Pss:                4321 kB
Pss_Dirty:          3100 kB
Pss_Anon:           3000 kB
Pss_File:           1321 kB
Pss_Shmem:             0 kB
Shared_Clean:       8000 kB
Shared_Dirty:          0 kB
Private_Clean:       200 kB
Private_Dirty:      3980 kB
Referenced:        12180 kB
Anonymous:          3980 kB
Swap:                  0 kB
SwapPss:               0 kB
Locked:                0 kB
`

func TestParseSmapsRollup(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		{rollupSample, 4321, false},
		{"Pss: 0 kB\n", 0, false},
		{"Rss: 10 kB\n", 0, true},
		{"Pss: ten kB\n", 0, true},
		{"Pss: 10 MB\n", 0, true},
		{"", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseSmapsRollup([]byte(tt.in))
		if tt.err != (err != nil) || got != tt.want {
			t.Errorf("ParseSmapsRollup(%.20q) = %d, %v; want %d (error %v)", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestParseStatPPID(t *testing.T) {
	tests := []struct {
		in   string
		want int
		err  bool
	}{
		{"100 (vsftpd) S 1 100 100 0 -1 4194560 ...", 1, false},
		{"201 (my (odd) name) S 100 201 ...", 100, false},
		{"202 (a) b) R 7 202", 7, false},
		{"no parens", 0, true},
		{"5 (x) S", 0, true},
	}
	for _, tt := range tests {
		got, err := parseStatPPID([]byte(tt.in))
		if tt.err != (err != nil) || got != tt.want {
			t.Errorf("parseStatPPID(%q) = %d, %v; want %d (error %v)", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func pss(k string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte("Rss: 1 kB\nPss: " + k + " kB\n")}
}

func stat(pid, ppid string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(pid + " (srv) S " + ppid + " 1 1 0 -1")}
}

// A forking server: 100 listens, 200 and 300 serve sessions, 201 is 200's
// unprivileged helper; 400 is unrelated; 500 vanished between the two reads.
func TestTreePSS(t *testing.T) {
	proc := fstest.MapFS{
		"1/stat":           stat("1", "0"),
		"1/smaps_rollup":   pss("9999"),
		"100/stat":         stat("100", "1"),
		"100/smaps_rollup": pss("1000"),
		"200/stat":         stat("200", "100"),
		"200/smaps_rollup": pss("300"),
		"201/stat":         stat("201", "200"),
		"201/smaps_rollup": pss("120"),
		"300/stat":         stat("300", "100"),
		"300/smaps_rollup": pss("310"),
		"400/stat":         stat("400", "1"),
		"400/smaps_rollup": pss("5000"),
		"500/stat":         stat("500", "100"),
		"meminfo":          &fstest.MapFile{Data: []byte("MemTotal: 100 kB\nMemAvailable:   42 kB\n")},
		"self":             &fstest.MapFile{Data: []byte("not a process dir")},
	}
	kib, procs, err := TreePSS(proc, 100)
	if err != nil {
		t.Fatal(err)
	}
	if kib != 1000+300+120+310 || procs != 4 {
		t.Errorf("TreePSS(100) = %d KiB over %d processes, want 1730 over 4", kib, procs)
	}
	kib, procs, err = TreePSS(proc, 201)
	if err != nil || kib != 120 || procs != 1 {
		t.Errorf("TreePSS(201) = %d, %d, %v; want 120 over 1", kib, procs, err)
	}
	if _, _, err := TreePSS(proc, 999); err == nil {
		t.Error("TreePSS of a missing process: no error")
	}
	if got := meminfoKiB(proc, "MemAvailable"); got != 42 {
		t.Errorf("meminfoKiB(MemAvailable) = %d", got)
	}
	if got := meminfoKiB(proc, "SwapTotal"); got != -1 {
		t.Errorf("meminfoKiB(SwapTotal) = %d, want -1", got)
	}
}

package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// ParseSmapsRollup returns the Pss line of a /proc/PID/smaps_rollup file, in
// KiB.
func ParseSmapsRollup(b []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, "Pss:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("smaps_rollup: odd Pss line %q", line)
		}
		return strconv.ParseInt(f[0], 10, 64)
	}
	return 0, errors.New("smaps_rollup: no Pss line")
}

// parseStatPPID returns the parent PID from a /proc/PID/stat line. The
// command name (field 2) is in parentheses and may itself hold spaces and
// parentheses, so fields are counted after the last ')'.
func parseStatPPID(b []byte) (int, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("stat: no ')'")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, errors.New("stat: too few fields")
	}
	return strconv.Atoi(f[1]) // f[0] is the state, f[1] the parent PID
}

// Descendants returns pid and every process below it, from the parent PIDs in
// proc (a /proc file system: os.DirFS("/proc") or a test map). Processes
// that vanish while it reads are skipped.
func Descendants(proc fs.FS, pid int) ([]int, error) {
	ents, err := fs.ReadDir(proc, ".")
	if err != nil {
		return nil, err
	}
	children := make(map[int][]int)
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil || !e.IsDir() {
			continue
		}
		b, err := fs.ReadFile(proc, e.Name()+"/stat")
		if err != nil {
			continue // gone
		}
		pp, err := parseStatPPID(b)
		if err != nil {
			continue
		}
		children[pp] = append(children[pp], p)
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out, nil
}

// TreePSS sums the proportional set size (KiB) of pid and all its
// descendants, so that a server that forks per session is counted with its
// sessions. It returns the number of processes counted too.
func TreePSS(proc fs.FS, pid int) (kib int64, procs int, err error) {
	pids, err := Descendants(proc, pid)
	if err != nil {
		return 0, 0, err
	}
	for i, p := range pids {
		b, err := fs.ReadFile(proc, strconv.Itoa(p)+"/smaps_rollup")
		if err != nil {
			if i == 0 {
				return 0, 0, fmt.Errorf("server PID %d: %w", pid, err)
			}
			continue // a session that ended meanwhile
		}
		k, err := ParseSmapsRollup(b)
		if err != nil {
			return 0, 0, fmt.Errorf("PID %d: %w", p, err)
		}
		kib += k
		procs++
	}
	return kib, procs, nil
}

// meminfoKiB returns a line of /proc/meminfo (MemTotal, MemAvailable) in
// KiB, or -1.
func meminfoKiB(proc fs.FS, key string) int64 {
	b, err := fs.ReadFile(proc, "meminfo")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, key+":"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				if v, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return v
				}
			}
		}
	}
	return -1
}

package bench

import (
	"context"
	"errors"
	"testing"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in   string
		want Target
		err  bool
	}{
		{"ftp://u:p@127.0.0.1:2121/", Target{User: "u", Password: "p", Host: "127.0.0.1", Port: 2121}, false},
		{"ftp://u:p@127.0.0.1:2121", Target{User: "u", Password: "p", Host: "127.0.0.1", Port: 2121}, false},
		{"ftp://u:p@localhost/", Target{User: "u", Password: "p", Host: "localhost", Port: 21}, false},
		{"ftp://127.0.0.1/", Target{User: "anonymous", Password: "bench@", Host: "127.0.0.1", Port: 21}, false},
		{"ftp://bench%40x:p%3Aw%2F@[::1]:21/", Target{User: "bench@x", Password: "p:w/", Host: "::1", Port: 21}, false},
		{"ftp://u:p@127.0.0.1:2121/pub/data/", Target{User: "u", Password: "p", Host: "127.0.0.1", Port: 2121, Dir: "pub/data"}, false},
		{"ftp://u:p@127.0.0.1:2121/a/../../b", Target{User: "u", Password: "p", Host: "127.0.0.1", Port: 2121, Dir: "b"}, false},
		{"ftp://u@127.0.0.1/", Target{User: "u", Password: "bench@", Host: "127.0.0.1", Port: 21}, false},
		{"http://u:p@127.0.0.1/", Target{}, true},
		{"127.0.0.1:21", Target{}, true},
		{"ftp:///", Target{}, true},
		{"ftp://u:p@127.0.0.1:0/", Target{}, true},
		{"ftp://u:p@127.0.0.1:70000/", Target{}, true},
		{"ftp://u:p@127.0.0.1:x/", Target{}, true},
		{"ftp://:p@127.0.0.1/", Target{}, true},
		{"ftp://u:p%0D%0ADELE%20x@127.0.0.1/", Target{}, true},
		{"ftp://u:p@127.0.0.1/dir%0Ax", Target{}, true},
		{"ftp://u:p@127.0.0.1/?x=1", Target{}, true},
	}
	for _, tt := range tests {
		got, err := ParseTarget(tt.in)
		if tt.err {
			if err == nil {
				t.Errorf("ParseTarget(%q) = %+v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseTarget(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseTarget(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestTargetString(t *testing.T) {
	tg, err := ParseTarget("ftp://u:secret@[::1]:2121/pub")
	if err != nil {
		t.Fatal(err)
	}
	if s := tg.String(); s != "ftp://u@[::1]:2121/pub/" {
		t.Errorf("String() = %q (the password must not show)", s)
	}
}

func TestResolveLoopbackOnly(t *testing.T) {
	tests := []struct {
		host   string
		remote bool // allowRemote
		ok     bool
	}{
		{"127.0.0.1", false, true},
		{"127.9.8.7", false, true},
		{"::1", false, true},
		{"::ffff:127.0.0.1", false, true},
		{"localhost", false, true},
		{"10.0.0.1", false, false},
		{"192.168.1.1", false, false},
		{"8.8.8.8", false, false},
		{"::ffff:10.0.0.1", false, false},
		{"0.0.0.0", false, false},
		{"10.0.0.1", true, true}, // only resolved, never dialled here
	}
	for _, tt := range tests {
		_, err := Target{Host: tt.host, Port: 21}.Resolve(context.Background(), tt.remote)
		if tt.ok && err != nil {
			t.Errorf("Resolve(%s, allowRemote=%v): %v", tt.host, tt.remote, err)
		}
		if !tt.ok && !errors.Is(err, errRemote) {
			t.Errorf("Resolve(%s, allowRemote=%v) = %v, want errRemote", tt.host, tt.remote, err)
		}
	}
}

func TestRunRefusesRemote(t *testing.T) {
	tg, _ := ParseTarget("ftp://u:p@192.0.2.1:21/")
	_, err := Run(context.Background(), Config{Target: tg}, []string{SmallRetr})
	if !errors.Is(err, errRemote) {
		t.Fatalf("Run against 192.0.2.1 = %v, want errRemote", err)
	}
}

func TestExpandWorkloads(t *testing.T) {
	got, err := ExpandWorkloads([]string{"list-big,retr-big", "retr-big"})
	if err != nil || len(got) != 2 || got[0] != RetrBig || got[1] != ListBig {
		t.Errorf("ExpandWorkloads = %v, %v", got, err)
	}
	got, err = ExpandWorkloads([]string{"all"})
	if err != nil || len(got) != len(Workloads) {
		t.Errorf("ExpandWorkloads(all) = %v, %v", got, err)
	}
	for _, bad := range [][]string{{"nope"}, {}, {""}} {
		if _, err := ExpandWorkloads(bad); err == nil {
			t.Errorf("ExpandWorkloads(%q): no error", bad)
		}
	}
}

func TestConfigBounds(t *testing.T) {
	bad := []func(*Config){
		func(c *Config) { c.Duration = MaxDuration + 1 },
		func(c *Config) { c.Sessions = MaxSessions + 1 },
		func(c *Config) { c.Clients = MaxClients + 1 },
		func(c *Config) { c.Size = MaxSize + 1 },
		func(c *Config) { c.Logins = -1 },
		func(c *Config) { c.ListEntries = MaxListEntries + 1 },
		func(c *Config) { c.File = "a\r\nDELE b" },
		func(c *Config) { c.Warmup = -1 },
		func(c *Config) { c.Warmup = MaxWarmup + 1 },
	}
	for i, f := range bad {
		var c Config
		c.Defaults()
		f(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("case %d: Validate accepted %+v", i, c)
		}
	}
	var c Config
	c.Defaults()
	if err := c.Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

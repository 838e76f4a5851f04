package bench

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ten := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i + 1)
	}
	tests := []struct {
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 50, 0},
		{[]time.Duration{7}, 50, 7},
		{[]time.Duration{7}, 99, 7},
		{ten, 50, 5},
		{ten, 90, 9},
		{ten, 91, 10},
		{ten, 99, 10},
		{ten, 100, 10},
		{ten, 0, 1},
		{ten, 10, 1},
		{ten, 11, 2},
		{hundred, 50, 50},
		{hundred, 99, 99},
		{hundred, 99.5, 100},
		{[]time.Duration{1, 2}, 50, 1},
		{[]time.Duration{1, 2, 3}, 50, 2},
	}
	for _, tt := range tests {
		if got := Percentile(tt.in, tt.p); got != tt.want {
			t.Errorf("Percentile(%v, %v) = %v, want %v", tt.in, tt.p, got, tt.want)
		}
	}
}

func TestLatenciesSorted(t *testing.T) {
	l := latencies{{5, 1}, nil, {3, 2, 4}}
	got := l.sorted()
	for i, want := range []time.Duration{1, 2, 3, 4, 5} {
		if got[i] != want {
			t.Fatalf("sorted() = %v", got)
		}
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"4096", 4096}, {"4KiB", 4096}, {"4K", 4096}, {"8MiB", 8 << 20}, {"1GiB", 1 << 30},
		{"1G", 1 << 30}, {"10B", 10}, {" 2 MiB ", 2 << 20}, {"64GiB", 64 << 30},
		{"0", -1}, {"-1", -1}, {"1.5GiB", -1}, {"GiB", -1}, {"65GiB", -1}, {"1TiB", -1}, {"", -1},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if tt.want < 0 {
			if err == nil {
				t.Errorf("ParseSize(%q) = %d, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

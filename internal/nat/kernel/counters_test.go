package kernel

import "testing"

// TestCarry: readings of tables that replace each other (reloads, health
// changes, a table removed behind the gateway's back) become totals that
// never decrease and count every reading's bytes once.
func TestCarry(t *testing.T) {
	type step struct {
		// replaced: the table is replaced, with final reading raw when
		// ok; otherwise raw is a reading of the running table.
		replaced, ok bool
		raw          tableCounters
		want         tableCounters // the totals after the step
	}
	c := func(hits, fc, fi uint64) tableCounters { return tableCounters{hits, fc, fi} }
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"one table", []step{
			{raw: c(0, 0, 0), want: c(0, 0, 0)},
			{raw: c(2, 100, 1000), want: c(2, 100, 1000)},
			{raw: c(2, 150, 5000), want: c(2, 150, 5000)},
		}},
		{"reload with a final reading", []step{
			{raw: c(2, 100, 1000), want: c(2, 100, 1000)},
			{replaced: true, ok: true, raw: c(3, 120, 1500), want: c(3, 120, 1500)},
			{raw: c(0, 0, 0), want: c(3, 120, 1500)},
			{raw: c(1, 10, 200), want: c(4, 130, 1700)},
		}},
		{"reload whose final reading failed keeps the latest", []step{
			{raw: c(2, 100, 1000), want: c(2, 100, 1000)},
			{replaced: true, want: c(2, 100, 1000)},
			{raw: c(1, 5, 50), want: c(3, 105, 1050)},
		}},
		{"reloads in a row, none read between", []step{
			{raw: c(1, 10, 100), want: c(1, 10, 100)},
			{replaced: true, ok: true, raw: c(2, 20, 200), want: c(2, 20, 200)},
			{replaced: true, ok: true, raw: c(1, 1, 1), want: c(3, 21, 201)},
			{replaced: true, ok: true, raw: c(0, 0, 0), want: c(3, 21, 201)},
			{raw: c(0, 7, 0), want: c(3, 28, 201)},
		}},
		{"table replaced behind the gateway's back", []step{
			{raw: c(5, 500, 5000), want: c(5, 500, 5000)},
			// nft flush ruleset, then the gateway's next reprogramming
			// counted a little: every counter is below its last reading.
			{raw: c(1, 40, 300), want: c(6, 540, 5300)},
			{raw: c(1, 60, 900), want: c(6, 560, 5900)},
		}},
		{"one counter restarted, the others grew past", []step{
			{raw: c(5, 500, 5000), want: c(5, 500, 5000)},
			{raw: c(6, 10, 6000), want: c(6, 510, 6000)},
		}},
		{"reading after the final one of a removed table", []step{
			{raw: c(1, 100, 100), want: c(1, 100, 100)},
			{replaced: true, ok: true, raw: c(1, 300, 400), want: c(1, 300, 400)},
			{raw: c(0, 0, 0), want: c(1, 300, 400)},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cr carry
			var prev tableCounters
			for i, s := range tc.steps {
				var got tableCounters
				if s.replaced {
					cr.replaced(s.raw, s.ok)
					got = cr.total()
				} else {
					got = cr.observe(s.raw)
				}
				if got != s.want {
					t.Fatalf("step %d (%+v): totals %+v, want %+v", i, s, got, s.want)
				}
				if got.Hits < prev.Hits || got.FromClient < prev.FromClient || got.FromInside < prev.FromInside {
					t.Fatalf("step %d: totals went down from %+v to %+v", i, prev, got)
				}
				prev = got
			}
		})
	}
}

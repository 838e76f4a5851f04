package kernel

// Where the kernel datapath's byte counts come from.
//
// Conntrack can count bytes per flow, but only with
// net.netfilter.nf_conntrack_acct=1, a setting of the whole network
// namespace (every connection of the host pays for it) that Rotary would
// have to turn on behind the admin's back; it leaves it alone, as it
// leaves nf_conntrack_timestamp. Acct counts only connections opened
// after it is on, and a flow's counts vanish with its entry: ended flows
// would need conntrack's destroy events, which netlink drops when the
// listener falls behind. The table counts instead, with two named
// counters, from_client and from_inside, fed by filter chains at input
// and postrouting. Their rules match the connections the table
// translated (ct status dnat, and conntrack's original destination one
// of the kernel routes' outside addresses and ports: the filter of show
// translations) and split them by conntrack direction. The DNAT rules'
// own counters would not do: nat chains see only a connection's first
// packet. Counters need no setting, cost an add per packet, and keep the
// bytes of flows that ended.
//
// Every packet of such a connection is counted once, as it leaves the
// host (postrouting, on any device but loopback) or is delivered to a
// local socket (input): forwarded traffic at postrouting only, traffic
// between two local sockets at input only. The counts are those of IP
// packets, headers included (as conntrack's acct would count them),
// where the userspace datapath's are TCP payload. A flow that goes on
// after a reload removed its outside port is no longer counted, as it is
// no longer listed by show translations.
//
// The table is replaced as a whole on every reload and health change,
// which starts its counters again at zero; carry turns the readings into
// totals that never decrease.

// tableCounters are the table's counters at one reading.
type tableCounters struct {
	// Hits are the packets through the DNAT rules: connections
	// translated (a nat chain sees a connection's first packet only).
	Hits uint64
	// FromClient and FromInside are the bytes of the translated
	// connections, original and reply direction.
	FromClient, FromInside uint64
}

func (c tableCounters) add(o tableCounters) tableCounters {
	return tableCounters{c.Hits + o.Hits, c.FromClient + o.FromClient, c.FromInside + o.FromInside}
}

// carry makes totals of the counters of tables that replace each other:
// base is what the tables before the running one counted, last the
// running one's counters at the latest reading.
type carry struct {
	base, last tableCounters
}

// observe takes a reading of the running table and returns the totals. A
// counter below its last reading started again (the table was replaced
// behind the gateway's back, by `nft flush ruleset` say): what it had
// counted joins the base.
func (c *carry) observe(raw tableCounters) tableCounters {
	restart := func(base *uint64, last, now uint64) {
		if now < last {
			*base += last
		}
	}
	restart(&c.base.Hits, c.last.Hits, raw.Hits)
	restart(&c.base.FromClient, c.last.FromClient, raw.FromClient)
	restart(&c.base.FromInside, c.last.FromInside, raw.FromInside)
	c.last = raw
	return c.base.add(raw)
}

// replaced is called as the running table is replaced by one counting
// from zero, with its final reading when there is one (ok); without one,
// what it counted since the latest reading is lost, never counted twice.
func (c *carry) replaced(final tableCounters, ok bool) {
	if ok {
		c.observe(final)
	}
	c.base = c.base.add(c.last)
	c.last = tableCounters{}
}

// total is the totals at the latest reading.
func (c *carry) total() tableCounters { return c.base.add(c.last) }

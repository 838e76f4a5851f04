package nat

import (
	"net/netip"
	"testing"
)

func TestPlanLineString(t *testing.T) {
	out := netip.MustParseAddrPort("127.0.0.2:5500")
	tests := []struct {
		l    PlanLine
		want string
	}{
		{PlanLine{Outside: netip.MustParseAddrPort("127.0.0.2:2121"), Static: netip.MustParseAddrPort("127.0.0.1:2121"), Datapath: "userspace"},
			"127.0.0.2:2121 -> static 127.0.0.1:2121 [userspace]"},
		{PlanLine{Outside: out, LastPort: 5520, Pool: "ftp", Datapath: "userspace"},
			"127.0.0.2:5500..5520 -> pool ftp [userspace]"},
		{PlanLine{Outside: out, LastPort: 5500, Pool: "ftp", Datapath: "nftables"},
			"127.0.0.2:5500 -> pool ftp [nftables]"},
		{PlanLine{Outside: out, Pool: "ftp", ProxyProtocol: 2, FilteredBy: "FTP", Datapath: "userspace"},
			"127.0.0.2:5500 -> pool ftp (proxy-protocol v2) (sources filtered by list FTP) [userspace]"},
	}
	for _, tc := range tests {
		if got := tc.l.String(); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
}

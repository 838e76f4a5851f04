package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Report is what --json prints.
type Report struct {
	Target  string   `json:"target"`
	Results []Result `json:"results"`
}

// WriteJSON writes the report as indented JSON.
func WriteJSON(w io.Writer, rep Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// WriteTable writes the results as an aligned table: the headline figure
// first, then the details.
func WriteTable(w io.Writer, rep Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "target: %s\n", rep.Target)
	fmt.Fprintln(tw, "workload\tresult\tdetails")
	for i := range rep.Results {
		r := &rep.Results[i]
		head, details := Summary(r)
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Name(), head, details)
	}
	return tw.Flush()
}

// Summary is a result's headline figure and its details, in words.
func Summary(r *Result) (head, details string) {
	switch {
	case r.Skipped != "":
		return "skipped", r.Skipped
	case r.Error != "":
		return "FAILED", r.Error
	}
	var d []string
	switch r.Workload {
	case Raw, RetrBig, StorBig, StorOverwrite:
		head = fmt.Sprintf("%.0f MB/s", r.MBps)
		d = append(d, fmt.Sprintf("%d x %.0f MB in %.2fs", r.Transfers, float64(r.Bytes)/float64(max(r.Transfers, 1))/1e6, r.Seconds))
		if r.Warmups > 0 {
			d = append(d, fmt.Sprintf("after %d untimed", r.Warmups))
		}
		if r.GoMBps > 0 {
			d = append(d, fmt.Sprintf("sendfile blocking %.0f MB/s, through Go's netpoller %.0f MB/s", r.BlockingMBps, r.GoMBps))
		}
	case SmallRetr, RawSmall, RawFTPSmall:
		head = fmt.Sprintf("%.0f ops/s", r.OpsPerSec)
		d = append(d, fmt.Sprintf("%d clients, %d ops in %.1fs, p50 %.2f ms, p99 %.2f ms", r.Clients, r.Ops, r.Seconds, r.P50ms, r.P99ms))
	case LoginStorm:
		head = fmt.Sprintf("%.0f logins/s", r.OpsPerSec)
		d = append(d, fmt.Sprintf("%d clients, all %d in after %.2fs, p50 %.2f ms, p99 %.2f ms", r.Clients, r.Ops, r.Seconds, r.P50ms, r.P99ms))
	case IdleSessions:
		if r.PSSKiB > 0 {
			head = fmt.Sprintf("%.1f KiB/session", r.PerSessionKiB)
			d = append(d, fmt.Sprintf("%d sessions, PSS %d -> %d KiB over %d processes", r.Sessions, r.PSSBaseKiB, r.PSSKiB, r.Processes))
		} else {
			head = fmt.Sprintf("%d sessions", r.Sessions)
		}
		d = append(d, fmt.Sprintf("opened in %.1fs", r.Seconds))
	case ListBig:
		head = fmt.Sprintf("%.1f ms", r.P50ms)
		d = append(d, fmt.Sprintf("%s of %d entries, %d times, p99 %.1f ms", r.Verb, r.Entries, r.Ops, r.P99ms))
	}
	if r.Failures > 0 {
		d = append(d, fmt.Sprintf("%d failures", r.Failures))
	}
	if r.Note != "" {
		d = append(d, r.Note)
	}
	return head, strings.Join(d, "; ")
}

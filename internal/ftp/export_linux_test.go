package ftp

// ParkedSessions counts the sessions waiting without a goroutine (all
// servers of the test binary).
func ParkedSessions() int {
	p := theParker.Load()
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.parked)
}

// QueuedTakes counts the data connections small RETRs took straight from
// the listen queue (takeQueued), in the whole test binary.
func QueuedTakes() int64 { return queuedTakes.Load() }

// QueuedSendMax is the largest file sent on such a connection.
const QueuedSendMax = queuedSendMax

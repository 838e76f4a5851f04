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

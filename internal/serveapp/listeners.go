package serveapp

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync/atomic"

	"github.com/rotary-ftp/rotary/internal/config"
	"github.com/rotary-ftp/rotary/internal/ftp"
)

// listenerKey names a control listener by what the configuration says:
// a reload keeps the listeners whose key stays and opens or closes the rest.
type listenerKey struct {
	addr     string // as configured ("127.0.0.1:0" stays one listener)
	implicit bool   // implicit FTPS (implicit-tls-listen)
}

func (k listenerKey) setting() string {
	if k.implicit {
		return "implicit-tls-listen"
	}
	return "listen"
}

type listener struct {
	key     listenerKey
	l       net.Listener // served: the implicit-TLS wrapper for implicit ones
	removed atomic.Bool  // closed on purpose by a reload
}

// wanted lists the listeners cfg asks for.
func wanted(cfg config.Config) []listenerKey {
	var keys []listenerKey
	for _, addr := range cfg.Listen {
		keys = append(keys, listenerKey{addr: addr})
	}
	for _, addr := range cfg.ImplicitTLSListen {
		keys = append(keys, listenerKey{addr: addr, implicit: true})
	}
	return keys
}

// bind opens the listeners cfg asks for that are not open yet. On error
// the ones it opened are closed again and the error names the setting.
func (a *App) bind(cfg config.Config) (map[listenerKey]*listener, error) {
	added := map[listenerKey]*listener{}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, k := range wanted(cfg) {
		if _, ok := a.listeners[k]; ok {
			continue
		}
		if _, ok := added[k]; ok {
			continue
		}
		l, err := ftp.ListenControl(k.addr)
		if err != nil {
			for _, o := range added {
				o.l.Close()
			}
			return nil, fmt.Errorf("%s %s: %w", k.setting(), k.addr, err)
		}
		if k.implicit {
			l = a.srv.ImplicitTLSListener(l)
		}
		added[k] = &listener{key: k, l: l}
	}
	return added, nil
}

// swapListeners makes the open listeners those of cfg: added (from bind)
// start serving, the ones cfg no longer names close. Sessions accepted on
// a closed listener go on.
func (a *App) swapListeners(cfg config.Config, added map[listenerKey]*listener) {
	keep := map[listenerKey]bool{}
	for _, k := range wanted(cfg) {
		keep[k] = true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, l := range a.listeners {
		if !keep[k] {
			l.removed.Store(true)
			l.l.Close()
			delete(a.listeners, k)
			a.logger.Info("stopped listening", "addr", l.l.Addr().String(), "setting", k.setting())
		}
	}
	for k, l := range added {
		a.listeners[k] = l
		a.logListening(l)
		if a.serving {
			a.serveListener(l)
		}
	}
}

// serveListener runs Serve on l; a.mu must be held.
func (a *App) serveListener(l *listener) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		err := a.srv.Serve(l.l)
		if err == nil || errors.Is(err, ftp.ErrServerClosed) || l.removed.Load() {
			return
		}
		select {
		case a.errc <- fmt.Errorf("serve %s: %w", l.l.Addr(), err):
		default:
		}
	}()
}

func (a *App) closeListeners() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, l := range a.listeners {
		l.removed.Store(true)
		l.l.Close()
	}
}

// Addrs lists the addresses the control listeners are bound to, plain
// ones first (for tests and the start line).
func (a *App) Addrs() (plain, implicit []net.Addr) {
	for _, l := range a.sortedListeners() {
		if l.key.implicit {
			implicit = append(implicit, l.l.Addr())
		} else {
			plain = append(plain, l.l.Addr())
		}
	}
	return plain, implicit
}

func (a *App) sortedListeners() []*listener {
	a.mu.Lock()
	defer a.mu.Unlock()
	ls := make([]*listener, 0, len(a.listeners))
	for _, l := range a.listeners {
		ls = append(ls, l)
	}
	slices.SortFunc(ls, func(x, y *listener) int {
		if x.key.implicit != y.key.implicit {
			if x.key.implicit {
				return 1
			}
			return -1
		}
		return cmp.Compare(x.l.Addr().String(), y.l.Addr().String())
	})
	return ls
}

func (a *App) logListening(l *listener) {
	if l.key.implicit {
		a.logger.Info("listening for implicit FTPS", "addr", l.l.Addr().String())
		return
	}
	a.logger.Info("listening", "addr", l.l.Addr().String(), "storage", storageName(a.cfg), "passive-ports", a.cfg.PassivePorts.String(),
		"public-passive-ports", a.cfg.PublicPassivePorts.String(), "public-ip", a.cfg.PublicIP, "config", a.cfg.File)
}

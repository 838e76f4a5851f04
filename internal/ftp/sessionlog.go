package ftp

import (
	"context"
	"log/slog"
	"net/netip"
	"runtime"
	"time"
)

// sessionLog is a session's logger: every record carries the client's
// address first, as logger.With("client", addr) would give, without a
// handler per session (With copies the handler and its formatted
// attributes: about 200 bytes that an idle session would hold).
type sessionLog struct {
	l      *slog.Logger
	client netip.Addr
}

func (sl sessionLog) Debug(msg string, args ...any) { sl.log(slog.LevelDebug, msg, args) }
func (sl sessionLog) Info(msg string, args ...any)  { sl.log(slog.LevelInfo, msg, args) }
func (sl sessionLog) Warn(msg string, args ...any)  { sl.log(slog.LevelWarn, msg, args) }
func (sl sessionLog) Error(msg string, args ...any) { sl.log(slog.LevelError, msg, args) }

// Log is slog.Logger.Log.
func (sl sessionLog) Log(_ context.Context, level slog.Level, msg string, args ...any) {
	sl.log(level, msg, args)
}

// log builds the record as slog.Logger does, with the caller of Info (and
// the others) as its source.
func (sl sessionLog) log(level slog.Level, msg string, args []any) {
	ctx := context.Background()
	h := sl.l.Handler()
	if !h.Enabled(ctx, level) {
		return
	}
	var pcs [1]uintptr
	runtime.Callers(3, pcs[:]) // runtime.Callers, log, Info
	r := slog.NewRecord(time.Now(), level, msg, pcs[0])
	r.AddAttrs(slog.String("client", sl.client.String()))
	r.Add(args...)
	_ = h.Handle(ctx, r)
}

package s3

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"syscall"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/rotary-ftp/rotary/internal/storage"
)

// Each S3 answer becomes the kind internal/ftp's errorReply turns into the
// reply named here.
func TestErrorKinds(t *testing.T) {
	resp := func(code string, status int) error {
		return minio.ErrorResponse{Code: code, StatusCode: status, Message: "m"}
	}
	tests := []struct {
		err   error
		want  error
		reply string
	}{
		{resp("NoSuchKey", 404), fs.ErrNotExist, "550"},
		{resp("NoSuchBucket", 404), fs.ErrNotExist, "550"},
		{resp("", 404), fs.ErrNotExist, "550"},
		{resp("AccessDenied", 403), fs.ErrPermission, "550"},
		{resp("InvalidAccessKeyId", 403), fs.ErrPermission, "550"},
		{resp("SignatureDoesNotMatch", 403), fs.ErrPermission, "550"},
		{resp("", 403), fs.ErrPermission, "550"},
		{resp("InvalidRange", 416), storage.ErrBadOffset, "554"},
		{resp("KeyTooLongError", 400), storage.ErrInvalidName, "553"},
		{resp("XMinioStorageFull", 507), syscall.ENOSPC, "452"},
		{resp("NotImplemented", 501), storage.ErrUnsupported, "502"},
		{resp("SlowDown", 503), ErrTransient, "451"},
		{resp("InternalError", 500), ErrTransient, "451"},
		{resp("ServiceUnavailable", 503), ErrTransient, "451"},
		{resp("PreconditionFailed", 412), ErrChanged, "451"},
		{fmt.Errorf("wrapped: %w", resp("NoSuchKey", 404)), fs.ErrNotExist, "550"},
		{&url.Error{Op: "Get", URL: "http://x", Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}, ErrTransient, "451"},
		{context.Canceled, context.Canceled, "451 (ABOR's)"},
	}
	for _, tt := range tests {
		got := mapErr("stat", "/f", tt.err)
		if !errors.Is(got, tt.want) {
			t.Errorf("mapErr(%v) = %v, want one wrapping %v (reply %s)", tt.err, got, tt.want, tt.reply)
		}
		var pe *fs.PathError
		if !errors.As(got, &pe) || pe.Op != "stat" || pe.Path != "/f" {
			t.Errorf("mapErr(%v) = %v, want a *fs.PathError for stat /f", tt.err, got)
		}
		// A transient error must not look like a broken data connection
		// (the engine answers those 426).
		var oe *net.OpError
		if errors.Is(tt.want, ErrTransient) && errors.As(got, &oe) {
			t.Errorf("mapErr(%v) = %v still wraps a *net.OpError", tt.err, got)
		}
	}
}

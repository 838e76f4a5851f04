package s3

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"syscall"

	"github.com/minio/minio-go/v7"

	"github.com/rotary-ftp/rotary/internal/storage"
)

// Errors of this driver that the engine answers with its default, 451
// ("Requested action aborted: local error in processing"): the client may
// try again.
var (
	// ErrTransient is an S3 error that retrying may cure: SlowDown,
	// InternalError, a 5xx status or a network error, after the client's
	// own retries (maxRetries, with backoff) ran out.
	ErrTransient = errors.New("object storage temporarily unavailable")
	// ErrChanged is an object that was replaced while an operation read
	// it (an If-Match precondition failed): a download or an append
	// would otherwise mix two versions.
	ErrChanged = errors.New("object changed during the operation")
)

// errPrecondition is a failed If-Match or If-None-Match: the caller says
// what it means (fs.ErrExist for an exclusive upload, ErrChanged for a
// read), and mapErr's default is ErrChanged.
var errPrecondition = errors.New("precondition failed")

// codeKinds maps S3 error codes to the errors the engine knows. It is the
// one place where S3's answers become kinds; internal/ftp's errorReply
// turns each kind into its reply code (noted after each group).
var codeKinds = map[string]error{
	// 550 No such file or directory.
	"NoSuchKey": fs.ErrNotExist, "NoSuchBucket": fs.ErrNotExist, "NoSuchUpload": fs.ErrNotExist, "NotFound": fs.ErrNotExist,
	// 550 Permission denied.
	"AccessDenied": fs.ErrPermission, "AllAccessDisabled": fs.ErrPermission, "InvalidAccessKeyId": fs.ErrPermission,
	"SignatureDoesNotMatch": fs.ErrPermission, "AccountProblem": fs.ErrPermission, "InvalidObjectState": fs.ErrPermission,
	// 554 Invalid REST parameter.
	"InvalidRange": storage.ErrBadOffset,
	// 553 File name not allowed.
	"KeyTooLongError": storage.ErrInvalidName, "InvalidObjectName": storage.ErrInvalidName, "XMinioInvalidObjectName": storage.ErrInvalidName,
	// 550 Not a directory / Is a directory (MinIO's file-versus-folder conflicts).
	"XMinioParentIsObject": storage.ErrNotDir, "XMinioObjectExistsAsDirectory": storage.ErrIsDir,
	// 452 Insufficient storage space.
	"XMinioStorageFull": syscall.ENOSPC, "XMinioAdminBucketQuotaExceeded": syscall.ENOSPC, "QuotaExceeded": syscall.ENOSPC,
	// 502 Command not implemented for this storage.
	"NotImplemented": storage.ErrUnsupported,
	// Internal: the caller decides (mapErr's default is ErrChanged, 451).
	"PreconditionFailed": errPrecondition,
}

// statusKinds is the fallback by HTTP status, for answers without a code
// (a HEAD has no body).
var statusKinds = map[int]error{
	http.StatusNotFound:                     fs.ErrNotExist,
	http.StatusForbidden:                    fs.ErrPermission,
	http.StatusPreconditionFailed:           errPrecondition,
	http.StatusRequestedRangeNotSatisfiable: storage.ErrBadOffset,
	http.StatusNotImplemented:               storage.ErrUnsupported,
}

// mapErr names the operation and the driver name (never the bucket key:
// it holds other users' prefixes) and turns err into the kind the engine
// maps to a reply. Context errors stay matchable with errors.Is; every S3
// error the table does not know is ErrTransient (451).
func mapErr(op, name string, err error) error {
	if err == nil {
		return nil
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return err // the driver's own, mapped already
	}
	return &fs.PathError{Op: op, Path: name, Err: kindOf(err)}
}

// kindOf is mapErr without the operation and name.
func kindOf(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrClosed) {
		return err
	}
	var er minio.ErrorResponse
	if !errors.As(err, &er) {
		var erp *minio.ErrorResponse
		if !errors.As(err, &erp) || erp == nil {
			if isKind(err) {
				return err // the driver's own
			}
			// A network error or an answer that is not S3's: not wrapped
			// with %w, so that the engine does not take it for a broken
			// data connection (426).
			return fmt.Errorf("%w: %v", ErrTransient, err)
		}
		er = *erp
	}
	kind := codeKinds[er.Code]
	if kind == nil {
		kind = statusKinds[er.StatusCode]
	}
	if kind == errPrecondition {
		return fmt.Errorf("%w (%w: S3 %s)", ErrChanged, errPrecondition, er.Code)
	}
	if kind == nil {
		kind = ErrTransient
	}
	msg := er.Message
	if msg == "" {
		msg = http.StatusText(er.StatusCode)
	}
	return fmt.Errorf("%w (S3 %s: %s)", kind, er.Code, msg)
}

// isKind reports whether err is already one of the kinds the engine maps.
func isKind(err error) bool {
	for _, k := range []error{fs.ErrNotExist, fs.ErrExist, fs.ErrPermission, fs.ErrInvalid, storage.ErrIsDir, storage.ErrNotDir,
		storage.ErrNotEmpty, storage.ErrBadOffset, storage.ErrInvalidName, storage.ErrOutsideRoot, storage.ErrUnsupported,
		ErrTransient, ErrChanged, errPrecondition, syscall.ENOSPC, syscall.EFBIG} {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}

// isNotFound reports whether err is S3's "no such key" (or bucket).
func isNotFound(err error) bool { return errors.Is(kindOf(err), fs.ErrNotExist) }

// isPrecondition reports whether err is a failed If-Match / If-None-Match.
func isPrecondition(err error) bool { return errors.Is(kindOf(err), errPrecondition) }

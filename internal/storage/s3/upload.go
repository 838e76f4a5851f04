package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"os"
	"path"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/minio/minio-go/v7"

	"github.com/rotary-ftp/rotary/internal/storage"
)

const (
	// partSize is the size of an upload's buffers, and of its parts up
	// to partGrowEvery parts (16 GiB). S3 wants at least 5 MiB in every
	// part but the last; 8 MiB is where a part costs little next to its
	// transfer time, on a LAN as to AWS.
	partSize = 8 << 20
	// partsInFlight is how many parts of one upload are sent at once
	// while the next one fills: (partsInFlight + 1) × partSize, 24 MiB,
	// is the most memory an upload holds (up to 16 GiB uploaded).
	partsInFlight = 2
	// partGrowEvery: the part size doubles every 2,000 parts, up to
	// maxPartBufs buffers (128 MiB), so that S3's 10,000 parts reach
	// 496 GiB; a file that large holds 3 × 128 MiB at the end.
	partGrowEvery = 2000
	maxPartBufs   = 16
	// maxParts is S3's limit on the parts of an upload.
	maxParts = 10000
)

// bufsForPart is how many partSize buffers part number num holds.
func bufsForPart(num int) int { return min(1<<((num-1)/partGrowEvery), maxPartBufs) }

var (
	errNotBegun = errors.New("upload used before Begin succeeded")
	errTooLarge = fmt.Errorf("upload larger than S3's %d parts allow: %w", maxParts, syscall.EFBIG)
)

type uploadState int

const (
	uploadCreated   uploadState = iota // Begin not called yet
	uploadBeginning                    // Begin copying the kept part
	uploadOpen                         // Begin done: data may be written
	uploadCommitted
	uploadAborted
)

// Upload is an upload in progress: a multipart upload whose parts are sent
// (partsInFlight at a time) as the client's data fills them. Nothing is
// visible under the name until Commit completes it; an upload that fits in
// its first part is sent by Commit as one PutObject instead (the same
// promise, one request instead of three). Write and ReadFrom are the
// writer's; Begin, Commit and Abort may come from other goroutines, and
// Abort makes a pending Write or ReadFrom fail.
type Upload struct {
	d    *Driver
	name string // driver name, for errors
	key  string
	mode storage.CreateMode
	// keep is how many bytes of the existing object the new one starts
	// with (Append: all, Resume: offset); srcETag pins the version they
	// are copied from.
	keep     int64
	srcETag  string
	reserved string // the Provider reservation of an Exclusive upload

	// ctx is the parts' requests' context: Abort, Close and a failed part
	// cancel it. Begin's and Commit's contexts end with their calls.
	ctx    context.Context
	cancel context.CancelCauseFunc
	begun  atomic.Bool
	sem    chan struct{} // one slot per part in flight

	// w serializes the writer (Write, ReadFrom) with Commit, and tells
	// Abort whether it may return the buffers (only if no writer holds them).
	w        sync.Mutex
	cur      [][]byte // the part being filled
	fill     int      // bytes in cur
	nextPart int

	mu       sync.Mutex
	state    uploadState
	uploadID string
	parts    []minio.CompletePart
	err      error          // the first part that failed
	sending  sync.WaitGroup // parts in flight
}

// Create starts an upload to name. It looks at the name, its folder and
// the object there (three requests at once) and checks what can fail
// before the client is told to send: a folder at name (storage.ErrIsDir),
// no such parent folder (fs.ErrNotExist), a REST offset beyond the object
// (storage.ErrBadOffset), an Exclusive name that is taken (fs.ErrExist).
// Nothing is sent to S3 for the upload itself until data or Begin's copy
// needs it.
func (d *Driver) Create(ctx context.Context, name string, mode storage.CreateMode, offset int64) (storage.Upload, error) {
	rel, err := d.resolve(ctx, "create", name)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (storage.Upload, error) {
		return nil, &fs.PathError{Op: "create", Path: name, Err: err}
	}
	if rel == "" {
		return fail(storage.ErrIsDir)
	}
	switch mode {
	case storage.Truncate, storage.Append, storage.Resume:
	case storage.Exclusive:
		if !d.p.caps.Has(storage.CapExclusive) {
			return nil, storage.Unsupported("create exclusive", name)
		}
	default:
		return fail(fmt.Errorf("unknown create mode %d: %w", mode, fs.ErrInvalid))
	}
	if mode == storage.Resume && offset < 0 {
		return fail(fmt.Errorf("%w: offset %d", storage.ErrBadOffset, offset))
	}
	key := d.objKey(rel)
	var (
		wg                 sync.WaitGroup
		oi                 minio.ObjectInfo
		headErr            error
		parentOK, isFolder bool
		parentErr, dirErr  error
	)
	wg.Go(func() { oi, headErr = d.head(ctx, key) })
	wg.Go(func() { parentOK, parentErr = d.isDir(ctx, parentOf(rel)) })
	wg.Go(func() { isFolder, dirErr = d.isDir(ctx, rel) })
	wg.Wait()
	exists := headErr == nil
	for _, err := range []error{parentErr, dirErr} {
		if err != nil {
			return nil, mapErr("create", name, err)
		}
	}
	if headErr != nil && !isNotFound(headErr) {
		return nil, mapErr("create", name, headErr)
	}
	switch {
	case !parentOK:
		return fail(fmt.Errorf("parent folder: %w", fs.ErrNotExist))
	case mode == storage.Exclusive && (exists || isFolder):
		return fail(fs.ErrExist)
	case isFolder && !exists:
		return fail(storage.ErrIsDir)
	}
	u := &Upload{d: d, name: name, key: key, mode: mode, nextPart: 1, sem: make(chan struct{}, partsInFlight)}
	switch mode {
	case storage.Append:
		if exists {
			u.keep, u.srcETag = oi.Size, oi.ETag
		}
	case storage.Resume:
		if offset > 0 && (!exists || offset > oi.Size) {
			return fail(fmt.Errorf("%w: offset %d, size %d", storage.ErrBadOffset, offset, oi.Size))
		}
		u.keep, u.srcETag = offset, oi.ETag
	case storage.Exclusive:
		if !d.p.reserve(d.bucket() + "/" + key) {
			return fail(fmt.Errorf("another upload is creating it: %w", fs.ErrExist))
		}
		u.reserved = d.bucket() + "/" + key
	}
	u.ctx, u.cancel = context.WithCancelCause(context.Background())
	d.mu.Lock()
	closed := d.closed
	if !closed {
		d.uploads[u] = struct{}{}
	}
	d.mu.Unlock()
	if closed {
		u.release()
		return fail(os.ErrClosed)
	}
	return u, nil
}

// Begin brings in the part of the existing object that Append and Resume
// keep, without sending it through this server when S3 can copy it:
//
//   - 5 MiB or more (S3's smallest part) is copied on the server
//     (UploadPartCopy) into the first parts, 256 MiB or more each, so that
//     the new data follows as further parts;
//   - less than 5 MiB cannot be a part of its own: it is downloaded
//     (a ranged GET, under If-Match) into the first part's buffer, and
//     the new data is appended to it there.
//
// Either way the copy is of the version Create saw (If-Match of its ETag):
// one replaced meanwhile fails with ErrChanged. Bytes are reported to
// progress as they move; ctx's end, or Abort, stops the copy.
func (u *Upload) Begin(ctx context.Context, progress func(int64)) error {
	u.mu.Lock()
	switch u.state {
	case uploadCreated:
	case uploadAborted:
		u.mu.Unlock()
		return &fs.PathError{Op: "begin", Path: u.name, Err: os.ErrClosed}
	default:
		u.mu.Unlock()
		return &fs.PathError{Op: "begin", Path: u.name, Err: errors.New("Begin called twice")}
	}
	u.state = uploadBeginning
	u.mu.Unlock()

	// Abort ends the copy too.
	bctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	defer context.AfterFunc(u.ctx, func() { stop(context.Cause(u.ctx)) })()
	u.w.Lock()
	err := u.copyKept(bctx, progress)
	u.w.Unlock()

	u.mu.Lock()
	if u.state == uploadAborted {
		u.mu.Unlock()
		return &fs.PathError{Op: "begin", Path: u.name, Err: os.ErrClosed}
	}
	if err != nil {
		u.mu.Unlock()
		u.Abort()
		if ctx.Err() != nil {
			err = context.Cause(ctx)
		}
		return mapErr("begin", u.name, err)
	}
	u.state = uploadOpen
	u.begun.Store(true)
	u.mu.Unlock()
	return nil
}

func (u *Upload) copyKept(ctx context.Context, progress func(int64)) error {
	if u.keep == 0 {
		return nil
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if u.keep >= minPartSize {
		id, err := u.startUpload(ctx)
		if err != nil {
			return err
		}
		parts, err := u.d.copyParts(ctx, u.key, u.key, id, u.srcETag, 1, u.keep, progress)
		if err != nil {
			if isPrecondition(err) {
				return ErrChanged
			}
			return err
		}
		u.mu.Lock()
		u.parts = append(u.parts, parts...)
		u.mu.Unlock()
		u.nextPart = len(parts) + 1
		return nil
	}
	var opts minio.GetObjectOptions
	opts.SetRange(0, u.keep-1)
	opts.SetMatchETag(u.srcETag)
	body, _, _, err := u.d.p.core.GetObject(ctx, u.d.bucket(), u.key, opts)
	if err != nil {
		if isPrecondition(err) {
			return ErrChanged
		}
		return err
	}
	defer body.Close()
	u.cur = append(u.cur, u.d.p.getBuf())
	buf := u.cur[0][:u.keep]
	for u.fill < len(buf) {
		n, err := body.Read(buf[u.fill:])
		u.fill += n
		if n > 0 && progress != nil {
			progress(int64(n))
		}
		if err == io.EOF && u.fill < len(buf) {
			// The object shrank since Create looked at it.
			return fmt.Errorf("%w: offset %d, size %d", storage.ErrBadOffset, u.keep, u.fill)
		}
		if err != nil && err != io.EOF {
			return err
		}
	}
	return nil
}

// startUpload starts the multipart upload (once). One that an Abort
// overtook is aborted at once.
func (u *Upload) startUpload(ctx context.Context) (string, error) {
	u.mu.Lock()
	id := u.uploadID
	u.mu.Unlock()
	if id != "" {
		return id, nil
	}
	ctype := mime.TypeByExtension(path.Ext(u.key))
	id, err := u.d.p.core.NewMultipartUpload(ctx, u.d.bucket(), u.key, minio.PutObjectOptions{ContentType: ctype})
	if err != nil {
		return "", err
	}
	u.mu.Lock()
	aborted := u.state == uploadAborted
	if !aborted {
		u.uploadID = id
	}
	u.mu.Unlock()
	if aborted {
		u.d.abortUpload(u.key, id)
		return "", os.ErrClosed
	}
	return id, nil
}

// check says whether the writer may go on.
func (u *Upload) check() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	switch {
	case u.state == uploadAborted, u.state == uploadCommitted:
		return &fs.PathError{Op: "write", Path: u.name, Err: os.ErrClosed}
	case u.err != nil:
		return mapErr("write", u.name, u.err)
	}
	return nil
}

// firstBufSize is where an upload's first buffer starts: it doubles up to
// lastGrownSize as data comes, so that a small file (most are) holds about
// its size, not a whole part, while it is sent; past that it moves into a
// pooled partSize buffer. (Doubling all the way to 8 MiB would leave 8 MiB
// of garbage behind every upload, which the heap's growth shows as RSS.)
const (
	firstBufSize  = 64 << 10
	lastGrownSize = 1 << 20
)

// space is the free part of the part being filled, allocating its next
// buffer (or growing the first) when needed.
func (u *Upload) space() []byte {
	i, off := u.fill/partSize, u.fill%partSize
	switch {
	case i == len(u.cur) && i == 0 && u.nextPart == 1:
		u.cur = append(u.cur, make([]byte, firstBufSize))
	case i == len(u.cur):
		u.cur = append(u.cur, u.d.p.getBuf())
	case off == len(u.cur[i]):
		var grown []byte
		if n := 2 * len(u.cur[i]); n <= lastGrownSize {
			grown = make([]byte, n)
		} else {
			grown = u.d.p.getBuf()
		}
		copy(grown, u.cur[i])
		u.cur[i] = grown
	}
	return u.cur[i][off:]
}

func (u *Upload) full() bool { return u.fill == bufsForPart(u.nextPart)*partSize }

// Write adds p to the part being filled, sending it when full (and
// waiting for a free slot when partsInFlight parts are on their way).
func (u *Upload) Write(p []byte) (int, error) {
	if !u.begun.Load() {
		return 0, &fs.PathError{Op: "write", Path: u.name, Err: errNotBegun}
	}
	u.w.Lock()
	defer u.w.Unlock()
	n := 0
	for len(p) > 0 {
		if err := u.check(); err != nil {
			return n, err
		}
		c := copy(u.space(), p)
		u.fill += c
		n += c
		p = p[c:]
		if u.full() {
			if err := u.send(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// ReadFrom reads r straight into the part buffers (no copy in between),
// sending each part when full. It returns at r's EOF, or the first error.
func (u *Upload) ReadFrom(r io.Reader) (int64, error) {
	if !u.begun.Load() {
		return 0, &fs.PathError{Op: "write", Path: u.name, Err: errNotBegun}
	}
	u.w.Lock()
	defer u.w.Unlock()
	var total int64
	for {
		if err := u.check(); err != nil {
			return total, err
		}
		n, err := r.Read(u.space())
		u.fill += n
		total += int64(n)
		if u.full() {
			if serr := u.send(); serr != nil {
				return total, serr
			}
		}
		switch {
		case err == io.EOF:
			// A pending Abort must still fail the transfer.
			return total, u.check()
		case err != nil:
			return total, err
		}
	}
}

// send hands the filled part to a goroutine that uploads it, once a slot
// is free. The buffers go back to the Provider's pool when it is sent.
func (u *Upload) send() error {
	if u.nextPart > maxParts {
		return &fs.PathError{Op: "write", Path: u.name, Err: errTooLarge}
	}
	id, err := u.startUpload(u.ctx)
	if err != nil {
		return mapErr("write", u.name, err)
	}
	select {
	case u.sem <- struct{}{}:
	case <-u.ctx.Done():
		return u.check()
	}
	u.mu.Lock()
	if u.state == uploadAborted {
		u.mu.Unlock()
		<-u.sem
		return &fs.PathError{Op: "write", Path: u.name, Err: os.ErrClosed}
	}
	u.sending.Add(1)
	u.mu.Unlock()
	bufs, size, num := u.cur, u.fill, u.nextPart
	u.cur, u.fill = nil, 0
	u.nextPart++
	go func() {
		defer u.sending.Done()
		defer func() { <-u.sem }()
		p, err := u.d.p.core.PutObjectPart(u.ctx, u.d.bucket(), u.key, id, num, newPartReader(bufs, size), int64(size), minio.PutObjectPartOptions{})
		if err == nil {
			// Only now: after a failed request (a cancelled one above
			// all) the HTTP transport may still be reading the body, so
			// its buffers are left to the garbage collector instead.
			for _, b := range bufs {
				u.d.p.putBuf(b)
			}
		}
		u.mu.Lock()
		defer u.mu.Unlock()
		if err != nil {
			if u.err == nil {
				u.err = err
			}
			u.cancel(err)
			return
		}
		u.parts = append(u.parts, minio.CompletePart{PartNumber: num, ETag: p.ETag})
	}()
	return nil
}

// Commit makes the upload visible under its name, atomically: the last
// part is sent, the parts in flight are waited for, and
// CompleteMultipartUpload puts the object in place (or, for an upload that
// fits in one part, one PutObject does). An Exclusive upload's final write
// carries If-None-Match: *, so that it fails with fs.ErrExist rather than
// replace an object that appeared meanwhile. On any error the upload is
// aborted and the old object, if any, stays. Commit after Commit returns
// nil; after Abort, an error wrapping os.ErrClosed.
func (u *Upload) Commit(ctx context.Context) error {
	u.w.Lock()
	defer u.w.Unlock()
	u.mu.Lock()
	switch u.state {
	case uploadCommitted:
		u.mu.Unlock()
		return nil
	case uploadAborted:
		u.mu.Unlock()
		return &fs.PathError{Op: "commit", Path: u.name, Err: os.ErrClosed}
	}
	open := u.state == uploadOpen
	u.mu.Unlock()
	if !open {
		return u.fail(&fs.PathError{Op: "commit", Path: u.name, Err: errNotBegun})
	}
	if ctx.Err() != nil {
		return u.fail(&fs.PathError{Op: "commit", Path: u.name, Err: context.Cause(ctx)})
	}
	var opts minio.PutObjectOptions
	if u.mode == storage.Exclusive {
		opts.SetMatchETagExcept("*")
	}
	err := u.complete(ctx, opts)
	if err != nil {
		if u.mode == storage.Exclusive && isPrecondition(err) {
			err = fs.ErrExist
		}
		if ctx.Err() != nil {
			err = context.Cause(ctx)
		}
		return u.fail(mapErr("commit", u.name, err))
	}
	u.mu.Lock()
	u.state = uploadCommitted
	u.mu.Unlock()
	u.release()
	return nil
}

func (u *Upload) complete(ctx context.Context, opts minio.PutObjectOptions) error {
	u.mu.Lock()
	id := u.uploadID
	u.mu.Unlock()
	if id == "" {
		// Everything is in the first buffer (or there is nothing).
		var data []byte
		if len(u.cur) > 0 {
			data = u.cur[0][:u.fill]
		}
		opts.ContentType = mime.TypeByExtension(path.Ext(u.key))
		_, err := u.d.p.core.PutObject(ctx, u.d.bucket(), u.key, newPartReader([][]byte{data}, len(data)), int64(len(data)), "", "", opts)
		if err != nil {
			u.cur, u.fill = nil, 0 // the transport may still read them (see send)
		}
		return err
	}
	if u.fill > 0 {
		if err := u.send(); err != nil {
			return err
		}
	}
	done := make(chan struct{})
	go func() { u.sending.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	u.mu.Lock()
	err, parts, aborted := u.err, slices.Clone(u.parts), u.state == uploadAborted
	u.mu.Unlock()
	if aborted {
		return os.ErrClosed
	}
	if err != nil {
		return err
	}
	slices.SortFunc(parts, func(a, b minio.CompletePart) int { return a.PartNumber - b.PartNumber })
	_, err = u.d.p.core.CompleteMultipartUpload(ctx, u.d.bucket(), u.key, id, parts, opts)
	return err
}

// fail aborts the upload for Commit's error err.
func (u *Upload) fail(err error) error {
	u.abort(true)
	return err
}

// Abort discards the upload: the parts in flight are cancelled and the
// multipart upload aborted, so nothing of it is kept. The old object, if
// any, is untouched. It is a no-op after Commit and safe to call twice
// and from another goroutine than the writer's.
func (u *Upload) Abort() error { return u.abort(false) }

// abort is Abort; byWriter says the caller holds u.w (Commit).
func (u *Upload) abort(byWriter bool) error {
	u.mu.Lock()
	if u.state == uploadCommitted || u.state == uploadAborted {
		u.mu.Unlock()
		return nil
	}
	u.state = uploadAborted
	id := u.uploadID
	u.mu.Unlock()
	u.cancel(os.ErrClosed)
	u.sending.Wait()
	// The buffers go back to the pool only if no writer is using them
	// (a ReadFrom blocked in its Read would write into them later).
	if byWriter || u.w.TryLock() {
		u.dropBuffers()
		if !byWriter {
			u.w.Unlock()
		}
	}
	u.release()
	if id != "" {
		if err := u.d.abortUpload(u.key, id); err != nil {
			return mapErr("abort", u.name, err)
		}
	}
	return nil
}

func (u *Upload) dropBuffers() {
	for _, b := range u.cur {
		u.d.p.putBuf(b)
	}
	u.cur, u.fill = nil, 0
}

// release gives back the Exclusive reservation and leaves the Driver's
// list of uploads in flight.
func (u *Upload) release() {
	if u.reserved != "" {
		u.d.p.release(u.reserved)
		u.reserved = ""
	}
	u.d.forget(u)
	if u.cancel != nil {
		u.cancel(os.ErrClosed)
	}
}

// partReader reads a part from its buffers. It is an io.Seeker, so that
// minio-go can send it again when it retries.
type partReader struct {
	bufs [][]byte
	size int64
	off  int64
}

func newPartReader(bufs [][]byte, size int) *partReader {
	return &partReader{bufs: bufs, size: int64(size)}
}

func (r *partReader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	n := 0
	for len(p) > 0 && r.off < r.size {
		b := r.bufs[r.off/partSize][r.off%partSize:]
		b = b[:min(int64(len(b)), r.size-r.off)]
		c := copy(p, b)
		p = p[c:]
		n += c
		r.off += int64(c)
	}
	return n, nil
}

func (r *partReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.size
	}
	if offset < 0 {
		return 0, errors.New("partReader: negative position")
	}
	r.off = offset
	return offset, nil
}

package s3

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/rotary-ftp/rotary/internal/storage"
)

const (
	// maxCopyObject is the largest object one CopyObject request copies
	// (S3's limit); larger ones are copied part by part (UploadPartCopy).
	maxCopyObject = 5 << 30
	// minPartSize is S3's smallest part, for every part but the last.
	minPartSize = 5 << 20
	// copyPartSize is the size of the parts of a server-side copy: large
	// enough to be few, small enough that each reports progress well
	// within the data timeout (a copy moves hundreds of MB a second).
	copyPartSize = 256 << 20
	// maxCopyParts keeps a copy's parts well inside S3's 10,000, leaving
	// room for the new data of an append after them.
	maxCopyParts = 9000
	// copyPartsInFlight is how many UploadPartCopy requests one copy
	// keeps running.
	copyPartsInFlight = 4
	// renameWorkers is how many objects a folder rename copies at once.
	renameWorkers = 16
	// maxRenameKeys bounds a folder rename: it holds the keys it copied
	// (to delete exactly those afterwards), about 200 bytes each.
	maxRenameKeys = 100_000
	// cleanupTimeout bounds the deletes that undo a failed folder rename
	// or abort an upload, which run after the caller's context may be done.
	cleanupTimeout = time.Minute
)

// copyObject copies src (described by its HEAD or listing: Size and ETag)
// to dst on the server, under If-Match of src's ETag. meta nil keeps src's
// metadata; otherwise it replaces the user metadata (and keeps the content
// type).
func (d *Driver) copyObject(ctx context.Context, srcKey, dstKey string, src minio.ObjectInfo, meta map[string]string) error {
	if src.Size <= maxCopyObject {
		dst := minio.CopyDestOptions{Bucket: d.bucket(), Object: dstKey}
		if meta != nil {
			dst.ReplaceMetadata = true
			dst.UserMetadata = meta
			dst.ContentType = src.ContentType
		}
		_, err := d.p.core.Client.CopyObject(ctx, dst, minio.CopySrcOptions{Bucket: d.bucket(), Object: srcKey, MatchETag: src.ETag})
		return err
	}
	if meta == nil {
		if src.ContentType == "" && src.UserMetadata == nil {
			// Listed, not HEAD: the metadata to carry over is not known.
			full, err := d.head(ctx, srcKey)
			if err != nil {
				return err
			}
			if full.ETag != src.ETag {
				return ErrChanged
			}
			src = full
		}
		meta = userMeta(src)
	}
	id, err := d.p.core.NewMultipartUpload(ctx, d.bucket(), dstKey, minio.PutObjectOptions{UserMetadata: meta, ContentType: src.ContentType})
	if err != nil {
		return err
	}
	parts, err := d.copyParts(ctx, srcKey, dstKey, id, src.ETag, 1, src.Size, nil)
	if err == nil {
		_, err = d.p.core.CompleteMultipartUpload(ctx, d.bucket(), dstKey, id, parts, minio.PutObjectOptions{})
	}
	if err != nil {
		d.abortUpload(dstKey, id)
	}
	return err
}

// copyParts copies the first length bytes (at least minPartSize) of
// srcKey into upload id of dstKey as parts first, first+1, ..., each
// between minPartSize and 5 GiB (so that more parts may follow), under
// If-Match of etag, copyPartsInFlight at a time. progress, if set, is told
// each part's bytes.
func (d *Driver) copyParts(ctx context.Context, srcKey, dstKey, id, etag string, first int, length int64, progress func(int64)) ([]minio.CompletePart, error) {
	size := max(copyPartSize, (length+maxCopyParts-1)/maxCopyParts)
	n := int((length + size - 1) / size)
	// Even parts: the last would otherwise be the remainder, which may
	// be under the minimum.
	base, extra := length/int64(n), length%int64(n)
	parts := make([]minio.CompletePart, n)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, copyPartsInFlight)
	var wg sync.WaitGroup
	var off int64
	for i := range n {
		l := base
		if int64(i) < extra {
			l++
		}
		start := off
		off += l
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			p, err := d.p.core.CopyObjectPart(ctx, d.bucket(), srcKey, d.bucket(), dstKey, id, first+i, start, l,
				map[string]string{"x-amz-copy-source-if-match": etag})
			if err != nil {
				cancel(err)
				return
			}
			parts[i] = p
			if progress != nil {
				progress(l)
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return parts, nil
}

// abortUpload aborts a multipart upload in the background of a failure,
// with a context of its own: the caller's may be what ended it.
func (d *Driver) abortUpload(key, id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	err := d.p.core.AbortMultipartUpload(ctx, d.bucket(), key, id)
	if err != nil && isNotFound(err) {
		return nil
	}
	return err
}

// renameDir moves every key under fromPrefix to toPrefix: it lists them
// (all of them, up to maxRenameKeys), copies them renameWorkers at a time,
// and only when every copy succeeded deletes the sources, a thousand per
// request. A failed copy stops the rename; the copies made so far are
// deleted and the source is left whole.
func (d *Driver) renameDir(ctx context.Context, fromPrefix, toPrefix string) error {
	var objs []minio.ObjectInfo
	for oi := range d.p.core.ListObjectsIter(ctx, d.bucket(), minio.ListObjectsOptions{Prefix: fromPrefix, Recursive: true, FetchOwner: &noOwner}) {
		if oi.Err != nil {
			return oi.Err
		}
		if len(objs) == maxRenameKeys {
			return fmt.Errorf("a folder of more than %d objects: %w", maxRenameKeys, storage.ErrUnsupportedParameter)
		}
		objs = append(objs, minio.ObjectInfo{Key: oi.Key, Size: oi.Size, ETag: oi.ETag})
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(renameWorkers, len(objs)) {
		wg.Go(func() {
			for i := range next {
				o := objs[i]
				if err := d.copyObject(cctx, o.Key, toPrefix+strings.TrimPrefix(o.Key, fromPrefix), o, nil); err != nil {
					cancel(fmt.Errorf("copy %s: %w", strings.TrimPrefix(o.Key, d.prefix), err))
				}
			}
		})
	}
feed:
	for i := range objs {
		select {
		case next <- i:
		case <-cctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(cctx); err != nil {
		// Every key the rename may have written, not only the copies it
		// saw succeed: a copy cancelled in flight may have completed on
		// the server. The destination was free when the rename began.
		undo := make([]string, len(objs))
		for i, o := range objs {
			undo[i] = toPrefix + strings.TrimPrefix(o.Key, fromPrefix)
		}
		uctx, ucancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer ucancel()
		return errors.Join(err, d.removeKeys(uctx, undo))
	}
	keys := make([]string, len(objs))
	for i, o := range objs {
		keys[i] = o.Key
	}
	return d.removeKeys(ctx, keys)
}

// removeKeys deletes keys, a thousand per request (DeleteObjects).
func (d *Driver) removeKeys(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	seq := iter.Seq[minio.ObjectInfo](func(yield func(minio.ObjectInfo) bool) {
		for _, k := range keys {
			if !yield(minio.ObjectInfo{Key: k}) {
				return
			}
		}
	})
	results, err := d.p.core.RemoveObjectsWithIter(ctx, d.bucket(), seq, minio.RemoveObjectsOptions{})
	if err != nil {
		return err
	}
	var errs []error
	for r := range results {
		if r.Err != nil && !isNotFound(r.Err) && len(errs) < 10 {
			errs = append(errs, fmt.Errorf("delete %s: %w", strings.TrimPrefix(r.ObjectName, d.prefix), r.Err))
		}
	}
	if err := ctx.Err(); err != nil && len(errs) == 0 {
		return err
	}
	return errors.Join(errs...)
}

package s3

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/rotary-ftp/rotary/internal/storage"
)

// maxAttempts is how many times a request is sent before its error is
// returned: minio-go retries SlowDown, InternalError, 5xx answers and
// network errors itself, with exponential backoff and full jitter (up to
// 200 ms doubling, at most 1 s a wait), and stops when the context ends.
// Five attempts wait 3.4 s at most in all, short enough for a client
// waiting on a reply; then the error is ErrTransient and the engine
// answers 451.
const maxAttempts = 5

// Provider is the storage.Provider of one bucket prefix: a user's home is
// a prefix under Config.Prefix. It holds the S3 client (one connection
// pool for every session) and is safe for concurrent use.
type Provider struct {
	cfg  Config
	core *minio.Core
	caps storage.Capabilities

	// bufs holds part buffers (partSize bytes) between uploads.
	bufs sync.Pool

	// reserved holds the keys that Exclusive uploads of this process are
	// writing, so that two sessions asking for one new name get it once
	// (If-None-Match on the final write keeps other processes out).
	mu       sync.Mutex
	reserved map[string]struct{}
}

var _ storage.Provider = (*Provider)(nil)

// New returns a Provider for cfg. It checks the configuration but sends
// nothing: CheckBucket does, and AbortStaleUploads sweeps.
func New(cfg Config) (*Provider, error) {
	if err := checkValid(cfg); err != nil {
		return nil, err
	}
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return nil, errors.New("s3 storage: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or s3-credentials-file")
	}
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = "s3.amazonaws.com"
	}
	tr, err := minio.DefaultTransport(cfg.TLS)
	if err != nil {
		return nil, fmt.Errorf("s3 storage: %w", err)
	}
	// Sessions share the pool; keep enough idle connections that busy
	// ones do not reconnect for every request.
	tr.MaxIdleConnsPerHost = 64
	lookup := minio.BucketLookupAuto
	if cfg.PathStyle != nil {
		lookup = minio.BucketLookupDNS
		if *cfg.PathStyle {
			lookup = minio.BucketLookupPath
		}
	}
	core, err := minio.NewCore(endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, cfg.SessionToken),
		Secure:       cfg.TLS,
		Transport:    tr,
		Region:       cfg.Region,
		BucketLookup: lookup,
		MaxRetries:   maxAttempts,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 storage: %w", err)
	}
	caps := storage.CapChtimes | storage.CapAppend | storage.CapResume | storage.CapRename
	if cfg.ConditionalWrites {
		caps |= storage.CapExclusive
	}
	p := &Provider{cfg: cfg, core: core, caps: caps, reserved: make(map[string]struct{})}
	p.bufs.New = func() any { b := make([]byte, partSize); return &b }
	return p, nil
}

// checkValid checks what ParseURL would have refused, for a Config made by
// a program.
func checkValid(cfg Config) error {
	if _, err := ParseURL(Scheme + "://" + cfg.Bucket); err != nil {
		return fmt.Errorf("s3 storage: %w", err)
	}
	if cfg.Prefix != "" {
		if p, err := cleanPrefix(cfg.Prefix); err != nil || p != cfg.Prefix {
			return fmt.Errorf("s3 storage: prefix %q: want \"\" or components ending in /", cfg.Prefix)
		}
	}
	switch cfg.ListMtime {
	case "", ListMtimeMetadata, ListMtimeHead, ListMtimeOff:
	default:
		return fmt.Errorf("s3 storage: list-mtime %q: want %s, %s or %s", cfg.ListMtime, ListMtimeMetadata, ListMtimeHead, ListMtimeOff)
	}
	return nil
}

// Config is the configuration the Provider was made with.
func (p *Provider) Config() Config { return p.cfg }

// Capabilities is what every Driver of the Provider can do: no Chmod (S3
// has no permission bits), and Exclusive only with conditional writes.
func (p *Provider) Capabilities() storage.Capabilities { return p.caps }

// CheckBucket asks the server whether the bucket exists and can be used
// with these credentials (a HEAD of the bucket).
func (p *Provider) CheckBucket(ctx context.Context) error {
	ok, err := p.core.BucketExists(ctx, p.cfg.Bucket)
	if err != nil {
		return fmt.Errorf("s3 bucket %s: %w", p.cfg.Bucket, kindOf(err))
	}
	if !ok {
		return fmt.Errorf("s3 bucket %s: %w", p.cfg.Bucket, fs.ErrNotExist)
	}
	return nil
}

// AbortStaleUploads aborts the incomplete multipart uploads under the
// Provider's prefix that were started before olderThan ago, and returns how
// many it aborted. Uploads of a server killed mid-transfer are left
// behind, invisible but billed; call it at start. MinIO filters listed
// uploads only by an exact key, so the bucket's uploads are listed and
// those under the prefix kept here.
func (p *Provider) AbortStaleUploads(ctx context.Context, olderThan time.Duration) (int, error) {
	cutoff := time.Now().Add(-olderThan)
	keyMarker, idMarker := "", ""
	aborted := 0
	var errs []error
	for {
		res, err := p.core.ListMultipartUploads(ctx, p.cfg.Bucket, "", keyMarker, idMarker, "", 1000)
		if err != nil {
			return aborted, fmt.Errorf("list incomplete uploads in s3 bucket %s: %w", p.cfg.Bucket, kindOf(err))
		}
		for _, u := range res.Uploads {
			if !strings.HasPrefix(u.Key, p.cfg.Prefix) || u.Initiated.After(cutoff) {
				continue
			}
			if err := p.core.AbortMultipartUpload(ctx, p.cfg.Bucket, u.Key, u.UploadID); err != nil && !isNotFound(err) {
				errs = append(errs, fmt.Errorf("abort upload of %s: %w", u.Key, kindOf(err)))
				continue
			}
			aborted++
		}
		if !res.IsTruncated || (res.NextKeyMarker == keyMarker && res.NextUploadIDMarker == idMarker) {
			return aborted, errors.Join(errs...)
		}
		keyMarker, idMarker = res.NextKeyMarker, res.NextUploadIDMarker
	}
}

// Open returns the Driver of home: the prefix Config.Prefix + home + "/".
// home is a slash path, cleaned as a rooted one, so that "alice",
// "/alice" and "../alice" all mean Prefix + "alice/" and no home leaves
// the Provider's prefix; "" and "/" are the prefix itself.
func (p *Provider) Open(ctx context.Context, home string) (storage.Driver, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open home %s: %w", home, err)
	}
	prefix, err := p.homePrefix(home)
	if err != nil {
		return nil, err
	}
	return &Driver{p: p, prefix: prefix, uploads: make(map[*Upload]struct{})}, nil
}

func (p *Provider) homePrefix(home string) (string, error) {
	if strings.IndexByte(home, 0) >= 0 || !utf8.ValidString(home) {
		return "", &fs.PathError{Op: "open home", Path: home, Err: storage.ErrInvalidName}
	}
	clean := path.Clean("/" + home)
	if clean == "/" {
		return p.cfg.Prefix, nil
	}
	prefix := p.cfg.Prefix + clean[1:] + "/"
	if len(prefix) > maxPrefixLen+256 {
		return "", &fs.PathError{Op: "open home", Path: home, Err: storage.ErrInvalidName}
	}
	return prefix, nil
}

// reserve holds key for an Exclusive upload; false if another one has it.
func (p *Provider) reserve(key string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, taken := p.reserved[key]; taken {
		return false
	}
	p.reserved[key] = struct{}{}
	return true
}

func (p *Provider) release(key string) {
	p.mu.Lock()
	delete(p.reserved, key)
	p.mu.Unlock()
}

func (p *Provider) getBuf() []byte { return (*p.bufs.Get().(*[]byte))[:partSize] }

func (p *Provider) putBuf(b []byte) {
	if cap(b) == partSize {
		b = b[:partSize]
		p.bufs.Put(&b)
	}
}

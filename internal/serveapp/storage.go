package serveapp

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/rotary-ftp/rotary/internal/config"
	"github.com/rotary-ftp/rotary/internal/storage"
	"github.com/rotary-ftp/rotary/internal/storage/s3"
)

// bucketCheckTimeout bounds the HEAD of the bucket at start and in rotary
// check.
const bucketCheckTimeout = 15 * time.Second

// newS3 builds the S3 Provider of cfg.Storage, with credentials from the
// environment, and asks the bucket whether it can be used. A bucket that
// does not exist, or that these credentials may not use, stops the start
// (a configuration mistake); a server that does not answer only warns, as
// it may come up after us and sessions fail one by one meanwhile (451).
func newS3(cfg config.Config, logger *slog.Logger) (*s3.Provider, error) {
	sc, err := s3Config(cfg)
	if err != nil {
		return nil, err
	}
	p, err := s3.New(sc)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), bucketCheckTimeout)
	defer cancel()
	if err := p.CheckBucket(ctx); err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			return nil, fmt.Errorf("storage %s: %w", sc, err)
		}
		logger.Warn("S3 storage does not answer yet; logins will fail until it does", "storage", sc.String(), "err", err)
	}
	return p, nil
}

// s3Config is the S3 configuration of cfg: the storage URL, with
// credentials from s3-credentials-file when it is set, else from the
// environment.
func s3Config(cfg config.Config) (s3.Config, error) {
	sc, err := s3.ParseURL(cfg.Storage)
	if err != nil {
		return sc, fmt.Errorf("storage: %w", err)
	}
	if cfg.S3CredentialsFile != "" {
		if sc, err = sc.FromFile(cfg.S3CredentialsFile); err != nil {
			return sc, fmt.Errorf("s3-credentials-file: %w", err)
		}
	}
	return sc.FromEnv(), nil
}

// sweepUploads aborts, in the background at start, the multipart uploads
// that a killed server left under the prefix (invisible, but billed).
func sweepUploads(p *s3.Provider, logger *slog.Logger) {
	age := p.Config().AbortUploadsAfter
	if age < 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	n, err := p.AbortStaleUploads(ctx, age)
	if n > 0 {
		logger.Info("aborted incomplete uploads of interrupted transfers", "storage", p.Config().String(), "uploads", n, "older-than", age)
	}
	if err != nil {
		logger.Warn("aborting incomplete uploads of interrupted transfers", "storage", p.Config().String(), "err", err)
	}
}

// provider is the storage the users' homes are opened from.
func (a *App) provider() storage.Provider {
	if a.s3 != nil {
		return a.s3
	}
	return a.storage
}

// storageName is the storage in log lines: the root folder, or the URL
// (which holds no credentials).
func storageName(cfg config.Config) string {
	if cfg.IsS3() {
		if sc, err := s3.ParseURL(cfg.Storage); err == nil {
			return sc.String()
		}
	}
	return cfg.Root
}

// checkS3 is rotary check's part for S3 storage: credentials present and
// the bucket answering.
func checkS3(cfg config.Config, bad func(string, ...any), ok func(string, ...any)) {
	sc, err := s3Config(cfg)
	if err != nil {
		bad("%v", err)
		return
	}
	p, err := s3.New(sc)
	if err != nil {
		bad("%v", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), bucketCheckTimeout)
	defer cancel()
	if err := p.CheckBucket(ctx); err != nil {
		bad("storage %s: %v", sc, err)
		return
	}
	ok("storage %s: the bucket answers", sc)
}

package s3

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// Config says where a Provider keeps its objects and how it reaches them.
// ParseURL fills it from a storage URL; credentials come from the
// environment (FromEnv) or are set here by a program.
type Config struct {
	Bucket string
	// Prefix is "" (the whole bucket) or a key prefix ending in "/"
	// ("ftp/"): every home is under it.
	Prefix string
	// Endpoint is HOST or HOST:PORT ("" means s3.amazonaws.com).
	Endpoint string
	// Region is the bucket's region ("" lets the client ask the server).
	Region string
	// PathStyle forces path-style requests (http://host/bucket/key, what
	// MinIO and most self-hosted servers want) or, set to false,
	// virtual-host requests (http://bucket.host/key); nil lets the client
	// decide by the endpoint (virtual-host for AWS, path-style elsewhere).
	PathStyle *bool
	// TLS selects https (the default from ParseURL) or plain http.
	TLS bool
	// AccessKey, SecretKey and SessionToken sign the requests. ParseURL
	// leaves them empty: FromEnv reads AWS_ACCESS_KEY_ID,
	// AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.
	AccessKey, SecretKey, SessionToken string
	// AbortUploadsAfter: at start the Provider aborts the incomplete
	// multipart uploads under Prefix that are older than this (a crashed
	// or killed server's). Negative: never.
	AbortUploadsAfter time.Duration
	// ListMtime says where listings take a file's modification time from
	// (ListMtimeMetadata, ListMtimeHead, ListMtimeOff).
	ListMtime string
	// ConditionalWrites: the server honours If-None-Match: * on PutObject
	// and CompleteMultipartUpload (AWS since 2024, MinIO), so STOU can be
	// offered. Servers that ignore the header would let STOU replace a
	// file; turn it off for them.
	ConditionalWrites bool
}

// Where listings take modification times from.
const (
	// ListMtimeMetadata asks the listing for user metadata (a MinIO
	// extension, metadata=true): one request per 1,000 entries, and MFMT
	// times show. Servers that ignore it (AWS) list the upload time.
	ListMtimeMetadata = "metadata"
	// ListMtimeHead sends a HEAD for every file listed (8 at a time), so
	// MFMT times show on any server, at a request per file.
	ListMtimeHead = "head"
	// ListMtimeOff lists the upload time (LastModified) and nothing else.
	ListMtimeOff = "off"
)

// DefaultAbortUploadsAfter is how old an incomplete multipart upload must
// be before the Provider aborts it at start: older than any transfer, so
// that a second server on the same prefix keeps its uploads.
const DefaultAbortUploadsAfter = 24 * time.Hour

// Scheme is the storage URL scheme this package serves.
const Scheme = "s3"

// The URL's query keys, each with what it takes.
var urlKeys = []string{"endpoint", "region", "path-style", "tls", "abort-uploads-after", "list-mtime", "conditional-writes"}

// maxPrefixLen leaves room for names under the prefix: S3 keys are at most
// 1,024 bytes of UTF-8.
const maxPrefixLen = 512

// IsURL reports whether s names S3 storage (starts with "s3://"), so that
// a caller can tell it from a folder before parsing.
func IsURL(s string) bool { return strings.HasPrefix(strings.ToLower(s), Scheme+"://") }

// ParseURL reads a storage URL:
//
//	s3://BUCKET[/PREFIX][?endpoint=HOST:PORT&region=R&path-style=true&tls=false&abort-uploads-after=24h&list-mtime=metadata&conditional-writes=true]
//
// Credentials are never part of the URL (it ends up in config files,
// process lists and logs): a URL with user information is refused.
func ParseURL(raw string) (Config, error) {
	c := Config{TLS: true, AbortUploadsAfter: DefaultAbortUploadsAfter, ListMtime: ListMtimeMetadata, ConditionalWrites: true}
	if strings.IndexByte(raw, 0) >= 0 {
		return c, errors.New("contains a NUL byte")
	}
	if !IsURL(raw) {
		return c, errors.New("want s3://BUCKET[/PREFIX][?endpoint=HOST:PORT&...]")
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return c, fmt.Errorf("not a URL: %v", err)
	}
	if u.User != nil {
		return c, errors.New("credentials do not belong in the URL: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	if u.Fragment != "" || u.Opaque != "" {
		return c, errors.New("want s3://BUCKET[/PREFIX][?...]")
	}
	c.Bucket = u.Host
	if err := s3utils.CheckValidBucketNameStrict(c.Bucket); err != nil {
		return c, fmt.Errorf("bucket %q: %v", c.Bucket, err)
	}
	if c.Prefix, err = cleanPrefix(u.Path); err != nil {
		return c, err
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return c, fmt.Errorf("query: %v", err)
	}
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if !slices.Contains(urlKeys, k) {
			return c, fmt.Errorf("unknown query key %q (want %s)", k, strings.Join(urlKeys, ", "))
		}
		if len(q[k]) != 1 {
			return c, fmt.Errorf("%s given %d times", k, len(q[k]))
		}
		if err := c.set(k, q.Get(k)); err != nil {
			return c, fmt.Errorf("%s=%s: %v", k, q.Get(k), err)
		}
	}
	return c, nil
}

func (c *Config) set(k, v string) error {
	switch k {
	case "endpoint":
		return c.setEndpoint(v)
	case "region":
		if v == "" || strings.ContainsFunc(v, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
		}) {
			return errors.New("want a region name such as us-east-1")
		}
		c.Region = v
	case "path-style":
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("want true or false")
		}
		c.PathStyle = &b
	case "tls":
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("want true or false")
		}
		c.TLS = b
	case "abort-uploads-after":
		if v == "never" || v == "off" {
			c.AbortUploadsAfter = -1
			return nil
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			n, nerr := strconv.Atoi(v)
			if nerr != nil {
				return errors.New("want a duration such as 24h, or never")
			}
			d = time.Duration(n) * time.Second
		}
		if d < 0 {
			return errors.New("must not be negative (never turns it off)")
		}
		c.AbortUploadsAfter = d
	case "list-mtime":
		switch v {
		case ListMtimeMetadata, ListMtimeHead, ListMtimeOff:
			c.ListMtime = v
		default:
			return fmt.Errorf("want %s, %s or %s", ListMtimeMetadata, ListMtimeHead, ListMtimeOff)
		}
	case "conditional-writes":
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("want true or false")
		}
		c.ConditionalWrites = b
	}
	return nil
}

func (c *Config) setEndpoint(v string) error {
	if strings.Contains(v, "://") {
		return errors.New("want HOST or HOST:PORT without a scheme (tls=false selects http)")
	}
	if v == "" || strings.ContainsAny(v, "/?#@ \t\r\n") {
		return errors.New("want HOST or HOST:PORT")
	}
	host := v
	if h, port, err := net.SplitHostPort(v); err == nil {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("bad port %q", port)
		}
		host = h
	} else if strings.Count(v, ":") > 0 && !strings.HasPrefix(v, "[") {
		return errors.New("want HOST or HOST:PORT (an IPv6 address in brackets)")
	}
	if host == "" {
		return errors.New("no host")
	}
	c.Endpoint = v
	return nil
}

// cleanPrefix turns the URL's path into a key prefix: "" or "a/b/".
// Empty, "." and ".." components are refused rather than cleaned away: a
// prefix is a security boundary between this server's homes and the rest
// of the bucket, so it must mean exactly what it says.
func cleanPrefix(p string) (string, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return "", nil
	}
	if !utf8.ValidString(p) {
		return "", errors.New("prefix is not valid UTF-8")
	}
	for elem := range strings.SplitSeq(p, "/") {
		if elem == "" || elem == "." || elem == ".." {
			return "", fmt.Errorf("prefix %q: empty, . and .. components are not allowed", p)
		}
	}
	if len(p) > maxPrefixLen {
		return "", fmt.Errorf("prefix longer than %d bytes", maxPrefixLen)
	}
	return p + "/", nil
}

// FromFile sets c's credentials from an AWS shared credentials file
// (~/.aws/credentials' format): the profile AWS_PROFILE names, else
// "default". A file that cannot be read, or a profile without a key pair,
// is an error naming the file.
func (c Config) FromFile(path string) (Config, error) {
	profile := os.Getenv("AWS_PROFILE")
	if profile == "" {
		profile = "default"
	}
	if _, err := os.Stat(path); err != nil {
		return c, fmt.Errorf("s3 credentials: %w", err)
	}
	v, err := credentials.NewFileAWSCredentials(path, profile).Get()
	if err != nil {
		return c, fmt.Errorf("s3 credentials %s, profile %s: %w", path, profile, err)
	}
	if v.AccessKeyID == "" || v.SecretAccessKey == "" {
		return c, fmt.Errorf("s3 credentials %s: profile %s has no aws_access_key_id and aws_secret_access_key", path, profile)
	}
	c.AccessKey, c.SecretKey, c.SessionToken = v.AccessKeyID, v.SecretAccessKey, v.SessionToken
	return c, nil
}

// FromEnv fills in the credentials that c lacks from the standard AWS
// environment variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN) and the region from AWS_REGION or AWS_DEFAULT_REGION.
func (c Config) FromEnv() Config {
	if c.AccessKey == "" && c.SecretKey == "" {
		c.AccessKey = os.Getenv("AWS_ACCESS_KEY_ID")
		c.SecretKey = os.Getenv("AWS_SECRET_ACCESS_KEY")
		c.SessionToken = os.Getenv("AWS_SESSION_TOKEN")
	}
	if c.Region == "" {
		c.Region = os.Getenv("AWS_REGION")
	}
	if c.Region == "" {
		c.Region = os.Getenv("AWS_DEFAULT_REGION")
	}
	return c
}

// String is the URL of c, without credentials (it has none), for logs
// and messages: ParseURL reads it back to the same Config.
func (c Config) String() string {
	var q []string
	if c.Endpoint != "" {
		q = append(q, "endpoint="+c.Endpoint)
	}
	if c.Region != "" {
		q = append(q, "region="+c.Region)
	}
	if c.PathStyle != nil {
		q = append(q, "path-style="+strconv.FormatBool(*c.PathStyle))
	}
	if !c.TLS {
		q = append(q, "tls=false")
	}
	s := Scheme + "://" + c.Bucket + (&url.URL{Path: "/" + c.Prefix}).EscapedPath()
	if len(q) > 0 {
		s += "?" + strings.Join(q, "&")
	}
	return s
}

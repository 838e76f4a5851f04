// Package s3 implements storage.Driver on an S3-compatible object store
// (AWS S3, MinIO, and the others that speak its API) with minio-go's Core
// client, so that it decides every request itself.
//
// # Configuration
//
// One URL names the bucket, the prefix under which every home lives, and
// how to reach the server (ParseURL):
//
//	s3://BUCKET[/PREFIX][?KEY=VALUE&...]
//
// Query keys:
//
//	endpoint=HOST[:PORT]       the server (default s3.amazonaws.com); no scheme
//	region=NAME                the bucket's region (default AWS_REGION, AWS_DEFAULT_REGION, else asked of the server)
//	path-style=true|false      path-style (host/bucket/key, MinIO) or virtual-host requests (default: by endpoint)
//	tls=true|false             https (default) or plain http
//	abort-uploads-after=DUR    abort incomplete uploads older than this at start (default 24h; never turns it off)
//	list-mtime=metadata|head|off  where listings take files' times from (default metadata, below)
//	conditional-writes=true|false  the server honours If-None-Match: * (default true; false turns STOU off)
//
// Credentials are never in the URL (it is written in config files and
// logs, and shown by ps): they come from AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN (Config.FromEnv), or a
// program sets Config's fields. A URL with user information is refused.
//
// A Provider serves one prefix; the home of each user is a prefix under it
// (Provider.Open): "alice" is PREFIX/alice/, and a home cleaned as a rooted
// path can never climb out of PREFIX.
//
// # Layout
//
// Name "/a/b" of a home is key HOME + "a/b". A folder is every key under
// its name + "/"; Mkdir writes a marker there, an empty object named
// "a/", which keeps an empty folder in existence. Stat is a HEAD of the
// name's key, and when there is no such object a listing of one key under
// name + "/" (the marker or anything else makes it a folder). The home's
// root always exists. Removing a file whose folder has no marker (made by
// another S3 client) writes the marker, so that the folder outlives its
// last file as it would on a disk.
//
// # Uploads
//
// STOR streams as a multipart upload. The client's data fills a part
// buffer of partSize (8 MiB); a full part is sent while the next fills, at
// most partsInFlight (2) at once, so an upload holds at most 3 buffers: 24
// MiB per upload in flight, reused across uploads. (After 2,000 parts, 16
// GiB, the part size doubles every 2,000 parts, up to 128 MiB: S3 allows
// 10,000 parts, and this reaches 496 GiB.) Nothing is visible under the
// name until Commit's CompleteMultipartUpload: an aborted, failed or killed
// upload leaves the old object as it was. An upload that fits in its first
// part is sent at Commit as one PutObject instead, which makes the same
// promise in one request instead of three.
//
// Abort aborts the multipart upload. A killed server leaves its uploads
// incomplete: invisible, but their parts are stored (and billed). At start
// the Provider aborts the incomplete uploads under its prefix older than
// abort-uploads-after (AbortStaleUploads); a bucket lifecycle rule,
// AbortIncompleteMultipartUpload after a day, does the same on the
// server's side and should be set too.
//
// # Resume and append
//
// REST+STOR (offset > 0) and APPE keep the first part of the existing
// object and add the new data after it, without downloading what S3 can
// copy. The rule, from S3's 5 MiB minimum for every part but the last:
//
//   - a kept part of 5 MiB or more is copied on the server
//     (UploadPartCopy) into the first parts of the new upload, 256 MiB at
//     most each (more only past 2 TiB, to stay within 9,000 parts) and all
//     alike in size, so that none falls under the minimum, 4 at a time; the
//     new data follows as further parts;
//   - a kept part under 5 MiB cannot be a part of its own: it is
//     downloaded (one ranged GET, less than 5 MiB) into the first part's
//     buffer, and the new data is appended to it there.
//
// Both read the version Create looked at (If-Match of its ETag): an object
// replaced in between fails the upload with ErrChanged rather than mix two
// versions.
//
// # Reads and listings
//
// RETR is a GET, ranged from REST's offset, whose body is read as the
// client is sent it, under the session's context. ReadDir and OpenDir list
// with ListObjectsV2 and delimiter "/", a page of 1,000 keys a request,
// pulled as the engine asks for entries (OpenDir holds one page, and the
// names of the files seen, to drop a folder named as an object).
//
// Sizes and times come from the objects' metadata. MFMT (Chtimes) keeps
// its time in user metadata, x-amz-meta-rotary-mtime, by copying the object
// onto itself with the metadata replaced (CopyObject, under If-Match;
// objects over 5 GiB part by part); without it an object's time is its
// LastModified, when it was written. Stat (a HEAD) shows it always.
// ListObjectsV2 does not return user metadata, so list-mtime decides what
// listings show:
//
//   - metadata (the default) asks the listing for it (metadata=true, a
//     MinIO extension): times as Stat shows them, at no extra request.
//     Servers without the extension (AWS) ignore it and list LastModified.
//   - head sends a HEAD per file listed, 8 at a time: right on every
//     server, at a request per file.
//   - off lists LastModified.
//
// Measured on MinIO over loopback, a folder of 1,000 files lists in 61 ms
// with off, 100 ms with metadata and 342 ms with head (BenchmarkReadDir);
// on AWS head would cost 1,000 requests and a few seconds a listing.
// Folders are listed with the Unix epoch as their time (a common prefix
// has none); Stat of a folder gives its marker's.
//
// # What is not atomic
//
// S3 has no rename. A file's rename is a server-side copy, then a delete
// of the old key: a crash between the two leaves both names, with the same
// content. A folder's rename lists its keys (100,000 at most), copies
// them 16 at a time, and deletes the old keys (a thousand a request) only
// once every copy succeeded. A copy that fails stops it, deletes the
// copies made, and leaves the folder whole under its old name. A crash
// during the copies leaves the old folder whole and part of the new one; a
// crash during the deletes leaves the new folder whole and part of the
// old; either way no object is lost. Uploads that complete into the old
// folder meanwhile stay there. RemoveDir deletes the marker of a folder
// that it found empty; an upload completing at that moment brings the
// folder back.
//
// STOU (Exclusive) reserves the name in this process and completes its
// upload with If-None-Match: *, so that it never replaces an object that
// appeared meanwhile; a server that ignores the header would let it
// (conditional-writes=false then turns STOU off). Chmod is not supported
// (S3 has no permission bits) and there are no symlinks.
//
// # Errors
//
// mapErr (errors.go) is the one place where S3's answers become the kinds
// the engine maps to replies: NoSuchKey and NoSuchBucket are
// fs.ErrNotExist (550), AccessDenied and bad credentials fs.ErrPermission
// (550), InvalidRange storage.ErrBadOffset (554), a storage quota
// syscall.ENOSPC (452). SlowDown, InternalError, 5xx answers and network
// errors are retried by minio-go with exponential backoff and jitter, 5
// attempts within 3.4 s, stopping when the context ends; then they are
// ErrTransient, which the engine answers with 451 (try again).
//
// # Security notes
//
// A key is built only from a cleaned absolute name: the driver refuses
// names with a NUL byte, names that are not absolute or not UTF-8, and
// names whose key would pass S3's 1,024 bytes, and path.Clean removes
// every ".." before the home's prefix is put in front, so no name reaches
// a key outside the home. Errors name the driver's path, never the key
// (which holds other users' prefix). Objects that other S3 clients made
// with names a listing line cannot carry (CR, LF, NUL, empty components)
// are left out of listings.
package s3

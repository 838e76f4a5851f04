// Package local implements storage.Driver on a directory of the local disk.
//
// # Security notes
//
// These notes explain the decisions, in the spirit of vsftpd's SECURITY
// file. The threat is an authenticated FTP user who wants to read or change
// something outside their directory, possibly with the help of a second
// account or a shell on the same machine that can create symlinks and move
// directories around while the server works.
//
// Every file-system call goes through os.Root. A user's tree is opened once
// as an *os.Root, and every Open, Stat, Mkdir, Rename, Remove, Chmod and
// Chtimes is made relative to it. os.Root resolves each path component with
// openat-style calls (O_NOFOLLOW, then reading the link itself), so "..",
// absolute symlinks and relative symlinks that lead out of the root fail
// with an error, and this holds even if a directory is swapped for a symlink
// between two calls: there is no "check the path, then use the path" window
// as there is with filepath.Clean + EvalSymlinks + os.Open. Symlinks that stay
// inside the root work. Escapes are reported as storage.ErrOutsideRoot. The
// driver does not chroot the process, so it needs no privileges and works
// the same on Linux, macOS and Windows.
//
// Names are checked before they reach os.Root anyway (defence in depth, and
// better errors): a driver name must be absolute and free of NUL bytes; it is
// cleaned as a rooted path, so "/../x" means "/x", exactly as "/.." is "/" for
// a process; it must be representable on the host (filepath.Localize rejects
// Windows device names such as CON, backslashes and drive or stream colons);
// and no component may look like one of the driver's temporary upload files.
//
// Only regular files are opened for reading. FIFOs, sockets and devices are
// refused, and reads open with O_NONBLOCK on Unix so that a FIFO planted in
// the tree cannot make a session hang in open(2).
//
// Uploads are written to a temporary file and renamed into place. The
// temporary file is created with O_EXCL (never following or reusing an
// existing name) under an unguessable name in the destination's directory,
// so the rename is atomic and never crosses file systems. Until Commit, a
// reader downloading the same file sees the complete old version, never a
// half-written one; an aborted or broken transfer (ABOR, dropped connection,
// disk full) leaves the old file untouched, and so does a killed server.
// Only with SyncUploads is the data fsync'ed before the rename, which keeps
// that promise across a power loss too; it is off by default, as in vsftpd,
// ProFTPD and Pure-FTPd, because it costs a full disk flush per upload. Writing into
// the destination directly would also follow a symlink planted at the
// destination name; renaming over it replaces the link instead. A
// replaced file keeps its permission bits (not setuid, setgid or sticky); a
// new file is created 0644 and directories 0755, both before the umask.
//
// Replacing or deleting a large file (8 MiB or more, one link) keeps its
// freeing off the reply path (release_linux.go): the file is opened before
// the rename or unlink drops its last name, and that descriptor is closed
// after the reply by a background worker (16 waiting at most; past that the
// session closes it itself). Without SyncUploads, an upload over such a file
// on Linux swaps the names with renameat2(RENAME_EXCHANGE) and then unlinks
// the old content under the temporary name: a plain rename over an existing
// file makes ext4 (auto_da_alloc) start writing the new file inside the
// call. So without SyncUploads a power loss right after an overwrite may
// leave the new file short, exactly as a fresh upload may; a crash of the
// server leaves the old or the new file, and the old content under a
// temporary name at worst, which the next start removes.
//
// REST+STOR and APPE copy the kept part of the old file into the temporary
// file first (copy_file_range on Linux): Create opens the old file, so that
// its errors come before the client is told to send, and Upload.Begin copies
// it in the transfer, in chunks, stopping when its context ends (ABOR).
//
// STOU's uploads are Exclusive: Commit links the temporary file to its
// final name (link(2), CreateHardLink on Windows), which fails if the name
// exists, where a rename would replace it, and then removes the temporary
// name. Exclusive names in flight are reserved process-wide per root folder,
// so two sessions asking for one new name at once get it once; the other
// is refused at Create and STOU tries the next name. On a file system
// without hard links, Commit looks before it renames instead, which still
// keeps this process's sessions apart but not other processes.
//
// Temporary files are hidden from
// listings and names that look like them are refused, so clients can neither
// see nor tamper with another session's upload. Leftovers after a crash are
// not cleaned up automatically, as another session may still be writing
// them; their prefix is ".rotary-upload-".
//
// Downloads return the *os.File itself and uploads hand readers straight to
// (*os.File).ReadFrom, so the standard library can use sendfile and splice.
package local

module github.com/rotary-ftp/rotary

go 1.26.0

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/jlaffaye/ftp v0.2.4
	github.com/pires/go-proxyproto v0.15.0
	golang.org/x/crypto v0.58.0
	golang.org/x/sys v0.49.0
	golang.org/x/term v0.47.0
)

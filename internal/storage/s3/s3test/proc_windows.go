package s3test

import "os"

// Windows has no SIGTERM: Stop falls back to Kill.
var terminate os.Signal = os.Kill

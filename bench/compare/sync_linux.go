package main

import "syscall"

// syncDisks flushes dirty pages to disk (sync(2)).
func syncDisks() { syscall.Sync() }

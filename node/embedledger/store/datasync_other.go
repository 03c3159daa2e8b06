//go:build !(linux && (amd64 || arm64))

package store

import "os"

// dataSyncer flushes a file's data to stable storage. Where Linux AIO is
// not available to this package it is a plain fsync.
type dataSyncer struct{}

func newDataSyncer() *dataSyncer { return &dataSyncer{} }

func (*dataSyncer) sync(f *os.File) error { return f.Sync() }

func (*dataSyncer) close() error { return nil }

//go:build !linux

package storage

import "syscall"

// syncFS makes everything written durable; without syncfs(2) that is a
// sync(2) of every filesystem.
func syncFS(dir string) error {
	if ft := injected(opSync, dir); ft.err != nil {
		return ft.err
	}
	syscall.Sync()
	return nil
}

//go:build !unix

package atomicfile

// freeBytes cannot tell the free space here, so a released reserve is
// refilled only when the node restarts.
func freeBytes(string) (int64, bool) { return 0, false }

//go:build race

package server

// raceBuild: the race detector turns off the compiler's append(a,
// make([]T, n)...) optimization that kmsg's decoding relies on, so every
// decoded slice is allocated twice (make, then append's copy).
const raceBuild = true

package bench

import (
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/spf13/cobra"
)

// netResult is what bench net prints.
type netResult struct {
	Bench    string  `json:"bench"`
	Bytes    int64   `json:"bytes"`
	Seconds  float64 `json:"seconds"`
	MBPerSec float64 `json:"mb_per_sec"`
}

func (r netResult) line() string {
	return fmt.Sprintf("net loopback: %.1f MB/s  (%s)", r.MBPerSec, formatSize(r.Bytes))
}

func netCommand() *cobra.Command {
	var (
		size   = byteSize(1 << 30)
		format string
	)
	cmd := &cobra.Command{
		Use:   "net",
		Short: "Measure loopback TCP throughput",
		Long: `Measure loopback TCP throughput.

Opens a TCP connection to itself on 127.0.0.1 and sends --size bytes
through it in 1 MiB writes, read on the other side in 1 MiB reads; the time
runs until the last byte is read. This is the ceiling for a client and a
broker on one machine (W2 reads are compared with it).

Examples:
  eddy bench net --size 1GiB
  eddy bench net --size 4GiB --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			r, err := runNet(int64(size))
			if err != nil {
				return err
			}
			return emit(cmd.OutOrStdout(), format, r)
		},
	}
	cmd.Flags().Var(&size, "size", "bytes to send (e.g. 1GiB)")
	registerFormat(cmd, &format)
	return cmd
}

// runNet sends size bytes over a loopback connection and times it.
func runNet(size int64) (netResult, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return netResult{}, fmt.Errorf("bench net: %w", err)
	}
	defer ln.Close()
	read := make(chan error, 1)
	go func() { read <- drainOne(ln, size) }()
	start := time.Now()
	err = sendAll(ln.Addr().String(), size)
	if err != nil {
		ln.Close() // unblocks Accept if the dial failed
	}
	if rerr := <-read; err == nil {
		err = rerr
	}
	elapsed := time.Since(start)
	if err != nil {
		return netResult{}, fmt.Errorf("bench net: %w", err)
	}
	return netResult{Bench: "net", Bytes: size, Seconds: elapsed.Seconds(),
		MBPerSec: perSec(float64(size)/megabyte, elapsed)}, nil
}

// drainOne accepts one connection and reads exactly size bytes from it.
func drainOne(ln net.Listener, size int64) error {
	conn, err := ln.Accept()
	if err != nil {
		return err
	}
	defer conn.Close()
	buf := make([]byte, diskChunk)
	for n := int64(0); n < size; {
		m, err := conn.Read(buf[:min(size-n, int64(len(buf)))])
		n += int64(m)
		if err == io.EOF && n < size {
			return fmt.Errorf("read %d of %d bytes", n, size)
		}
		if err != nil && err != io.EOF {
			return err
		}
	}
	return nil
}

// sendAll dials addr and writes size bytes in 1 MiB writes.
func sendAll(addr string, size int64) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	buf := make([]byte, diskChunk)
	rand.Read(buf)
	for left := size; left > 0; left -= int64(len(buf)) {
		if _, err := conn.Write(buf[:min(left, int64(len(buf)))]); err != nil {
			return err
		}
	}
	return nil
}

package bench

import (
	"fmt"
	"io"
	"time"

	"github.com/eddy-streaming/eddy/internal/cli/client"
)

// megabyte is the MB of every MB/s figure: 10^6 bytes, as disk and network
// vendors and the Kafka/Redpanda published figures use.
const megabyte = 1e6

// report is the outcome of one workload.
type report interface {
	line() string
}

// emit prints r as one text line or, with format "json", one JSON object.
func emit(w io.Writer, format string, r report) error {
	if format == "json" {
		return client.JSON(w, r)
	}
	_, err := fmt.Fprintln(w, r.line())
	return err
}

// produceResult is what bench produce prints.
type produceResult struct {
	Bench         string  `json:"bench"`
	Target        string  `json:"target"`
	Records       int64   `json:"records"`
	Errors        int64   `json:"errors"`
	Bytes         int64   `json:"bytes"`
	Seconds       float64 `json:"seconds"`
	RecordsPerSec float64 `json:"records_per_sec"`
	MBPerSec      float64 `json:"mb_per_sec"`
	P50Ms         float64 `json:"p50_ms"`
	P99Ms         float64 `json:"p99_ms"`
	P999Ms        float64 `json:"p999_ms"`
	MaxMs         float64 `json:"max_ms"`
	Rate          float64 `json:"rate,omitempty"`
	// Requests counts the Produce requests the run wrote.
	Requests          int64   `json:"produce_requests"`
	RecordsPerRequest float64 `json:"records_per_request"`
}

func (r produceResult) line() string {
	return fmt.Sprintf("%s %s: %.0f records/s  %.1f MB/s  p50 %.2f ms  p99 %.2f ms  p999 %.2f ms  records %d  errors %d  records/request %.0f",
		r.Bench, r.Target, r.RecordsPerSec, r.MBPerSec, r.P50Ms, r.P99Ms, r.P999Ms, r.Records, r.Errors, r.RecordsPerRequest)
}

// consumeResult is what bench consume prints.
type consumeResult struct {
	Bench         string  `json:"bench"`
	Target        string  `json:"target"`
	Records       int64   `json:"records"`
	Bytes         int64   `json:"bytes"`
	Seconds       float64 `json:"seconds"`
	RecordsPerSec float64 `json:"records_per_sec"`
	MBPerSec      float64 `json:"mb_per_sec"`
}

func (r consumeResult) line() string {
	return fmt.Sprintf("consume %s: %.0f records/s  %.1f MB/s  records %d",
		r.Target, r.RecordsPerSec, r.MBPerSec, r.Records)
}

// perSec returns n per second of d, zero for an empty interval.
func perSec(n float64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return n / d.Seconds()
}

// ms converts d to fractional milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

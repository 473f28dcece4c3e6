package client

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// JSONOutput reports whether --format json was asked for.
func (o *Options) JSONOutput() bool { return o.Format == "json" }

// Render writes v as JSON when --format json was asked for, and otherwise
// header and rows as a table. Callers build both so that scripts get typed
// fields while people get aligned columns.
func (o *Options) Render(w io.Writer, v any, header []string, rows [][]string) error {
	if o.JSONOutput() {
		return JSON(w, v)
	}
	return Table(w, header, rows)
}

// BrokerError adds the broker's free-text message, when it sent one, to a
// Kafka error code, so users see both "TOPIC_ALREADY_EXISTS: ..." and why.
// The result still matches the kerr error with errors.Is.
func BrokerError(err error, message string) error {
	if err == nil || message == "" || message == err.Error() {
		return err
	}
	return fmt.Errorf("%w (broker: %s)", err, message)
}

// SignalContext returns a child of ctx that is cancelled on SIGINT or
// SIGTERM, so long-running commands stop cleanly instead of being killed.
func SignalContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx == nil {
		ctx = context.Background()
	}
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

package consume

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// parseOffset turns an -o/--offset value into where each partition starts:
//
//	start | beginning | oldest   the log start offset
//	end | newest                 the high watermark (only new records)
//	N                            exact offset N
//	-N                           N records before the end
//	@MS                          first record at or after Unix time MS (ms)
//
// Out-of-range exact and relative offsets start at the nearest end of the
// log, as kgo does.
func parseOffset(s string) (kgo.Offset, error) {
	switch s {
	case "start", "beginning", "oldest":
		return kgo.NewOffset().AtStart(), nil
	case "end", "newest":
		return kgo.NewOffset().AtEnd(), nil
	}
	if ms, ok := strings.CutPrefix(s, "@"); ok {
		n, err := strconv.ParseInt(ms, 10, 64)
		if err != nil || n < 0 {
			return kgo.Offset{}, fmt.Errorf("invalid --offset %q: want @ followed by Unix milliseconds", s)
		}
		return kgo.NewOffset().AfterMilli(n), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	switch {
	case err != nil:
		return kgo.Offset{}, fmt.Errorf("invalid --offset %q: want start, end, N, -N or @TIMESTAMP_MS", s)
	case n < 0:
		return kgo.NewOffset().AtEnd().Relative(n), nil
	}
	return kgo.NewOffset().At(n), nil
}

package node

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/eddy-streaming/eddy/internal/storage"
)

// Reencrypted says what Reencrypt did.
type Reencrypted struct {
	storage.ReencryptStats
	Key string // the id of the key everything is now encrypted with
}

// Reencrypt rewrites every segment of a stopped node's data directory with
// the first key of keyFile (eddy storage reencrypt). It takes the data
// directory's lock as a starting node does, so that it and a node never
// work on the directory at once.
func Reencrypt(ctx context.Context, dataDir, keyFile string, logger *slog.Logger) (Reencrypted, error) {
	keys, err := storage.LoadKeys(keyFile)
	if err != nil {
		return Reencrypted{}, err
	}
	if _, err := os.Stat(dataDir); err != nil {
		return Reencrypted{}, fmt.Errorf("data directory: %w", err)
	}
	lock, err := lockDataDir(dataDir)
	if err != nil {
		return Reencrypted{}, err
	}
	defer lock.release()
	st, err := storage.Reencrypt(ctx, filepath.Join(dataDir, "logs"), keys, logger)
	return Reencrypted{ReencryptStats: st, Key: keys.Primary().String()}, err
}

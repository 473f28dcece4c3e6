package node

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// errMetadataMissing is returned when the metadata state file is gone but
// partition logs remain: starting would create a new cluster with no
// topics, and the broker would then delete every log as belonging to no
// known topic.
var errMetadataMissing = errors.New("node: metadata state file missing but the data directory holds logs")

// requireMetadata refuses a data directory whose logs survive its metadata
// (a bad restore, a wrong rm). The operator restores meta/state, or moves
// logs/ away to start a new cluster on purpose. The path is the one
// docs/format/meta.md documents.
func requireMetadata(dataDir string) error {
	state := filepath.Join(dataDir, "meta", "state")
	if _, err := os.Stat(state); !errors.Is(err, fs.ErrNotExist) {
		return nil // present, or an error meta.Open reports with context
	}
	logsDir := filepath.Join(dataDir, "logs")
	ents, err := os.ReadDir(logsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading logs directory: %w", err)
	}
	logs := 0
	for _, e := range ents {
		if e.IsDir() {
			logs++
		}
	}
	if logs == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s does not exist but %s holds %d partition logs; restore the file, or move %s away to start a new cluster", errMetadataMissing, state, logsDir, logs, logsDir)
}

package storage

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/eddy-streaming/eddy/internal/node"
)

func reencryptCommand() *cobra.Command {
	var dataDir, keyFile string
	cmd := &cobra.Command{
		Use:   "reencrypt",
		Short: "Re-encrypt every segment with the first key of the key file",
		Long: `Re-encrypt the partition logs of a stopped node with the first key of
--encryption-key-file, plain segments (written before encryption was on)
included, so that the other keys can then be removed from the file.

It takes the data directory's lock, so the node must be stopped. Each
segment is rewritten to a new file, fsynced and renamed into place: an
interrupted run leaves every segment readable, and running it again
finishes the job. Segments already encrypted with the first key are left
alone.

Rotation:
  1. put a new key first in the key file, keep the old one below it
  2. restart the node (new data uses the new key)
  3. stop it, run reencrypt, remove the old key, start it again

Examples:
  openssl rand -hex 32 > new.hex && cat new.hex keys.hex > keys2.hex
  eddy storage reencrypt --data-dir /var/lib/eddy --encryption-key-file keys2.hex`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runReencrypt(cmd, dataDir, keyFile)
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "./eddy-data", "the stopped node's data directory")
	cmd.Flags().StringVar(&keyFile, "encryption-key-file", os.Getenv("EDDY_ENCRYPTION_KEY_FILE"), "key file (64 hex characters a line; the first encrypts)")
	return cmd
}

func runReencrypt(cmd *cobra.Command, dataDir, keyFile string) error {
	if keyFile == "" {
		return fmt.Errorf("--encryption-key-file is required")
	}
	logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
	st, err := node.Reencrypt(cmd.Context(), dataDir, keyFile, logger)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "re-encrypted %d of %d segments (%d batches, %d bytes) with key %s\n",
		st.Rewritten, st.Segments, st.Batches, st.Bytes, st.Key)
	return nil
}

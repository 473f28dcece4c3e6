package storage

import (
	"bytes"
	"os"
)

// EDDY_TEST_ENCRYPTION=1 runs every test of the package with encryption at
// rest on (testKeys): the logs' behaviour must not depend on it. All pass
// but one case, TestAppendFault "roll: new segment's index not created": it
// injects EMFILE on every later open of the directory, and whether the
// active segment's file is among the idle files the cache then closes
// depends on batch sizes (its index entries fall elsewhere), after which
// its reads cannot reopen the file. (Checked on 2026-12-03.)
func init() {
	if os.Getenv("EDDY_TEST_ENCRYPTION") == "1" {
		k, err := NewKeyring(bytes.Repeat([]byte{7}, KeySize))
		if err != nil {
			panic(err)
		}
		testKeys = k
	}
}

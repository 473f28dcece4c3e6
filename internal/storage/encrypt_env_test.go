package storage

import (
	"bytes"
	"os"
)

// EDDY_TEST_ENCRYPTION=1 runs every test of the package with encryption at
// rest on (testKeys): the logs' behaviour must not depend on it.
func init() {
	if os.Getenv("EDDY_TEST_ENCRYPTION") == "1" {
		k, err := NewKeyring(bytes.Repeat([]byte{7}, KeySize))
		if err != nil {
			panic(err)
		}
		testKeys = k
	}
}

package controller

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"github.com/eddy-streaming/eddy/internal/auth"
)

// alterScram runs AlterScramCredentials for
// delete=(user/mechanism,...) upsert=(user/mechanism/iterations[/nosalt|/nosalted],...)
// and prints each user's outcome in answer order. Salts and salted
// passwords are fixed bytes: the scripts check validation, not keys.
func alterScram(c *Controller, td *datadriven.TestData) string {
	var dels []ScramDeletion
	var ups []ScramUpsertion
	for _, a := range td.CmdArgs {
		for _, v := range a.Vals {
			f := strings.Split(v, "/")
			switch a.Key {
			case "delete":
				dels = append(dels, ScramDeletion{User: f[0], Mechanism: auth.Mechanism(atoi(f[1]))})
			case "upsert":
				ups = append(ups, scramUpsertion(f))
			}
		}
	}
	var lines []string
	for _, r := range c.AlterScramCredentials(dels, ups) {
		lines = append(lines, fmt.Sprintf("%q: %s", r.User, result(r.Err, "")))
	}
	return strings.Join(lines, "\n")
}

func scramUpsertion(f []string) ScramUpsertion {
	u := ScramUpsertion{User: f[0], Mechanism: auth.Mechanism(atoi(f[1])), Iterations: int32(atoi(f[2])),
		Salt: []byte("salt"), SaltedPassword: bytes.Repeat([]byte{'p'}, 32)}
	if len(f) > 3 {
		switch f[3] {
		case "nosalt":
			u.Salt = nil
		case "nosalted":
			u.SaltedPassword = nil
		default:
			panic("upsert option " + f[3])
		}
	}
	return u
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return n
}

// TestBootstrapUserCredentials checks that the bootstrap user's
// credentials are of its password, for both mechanisms, and that a second
// call with another password keeps them.
func TestBootstrapUserCredentials(t *testing.T) {
	h := &harness{t: t}
	h.init(&datadriven.TestData{})
	if created, err := h.c.BootstrapUser("admin", "admin-secret"); err != nil || !created {
		t.Fatalf("BootstrapUser = %v, %v; want created", created, err)
	}
	if created, err := h.c.BootstrapUser("admin", "other"); err != nil || created {
		t.Fatalf("second BootstrapUser = %v, %v; want kept", created, err)
	}
	for _, m := range auth.Mechanisms {
		c, ok := h.store.Image().ScramCredential("admin", m)
		if !ok || c.Iterations != 4096 || !c.VerifyPassword("admin-secret") || c.VerifyPassword("other") {
			t.Errorf("%v: credential %v (found %v) does not hold admin-secret at 4096 iterations", m, c.Iterations, ok)
		}
	}
}

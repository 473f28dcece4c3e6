package controller

// SCRAM users (KIP-554), as Kafka's ScramControlManager validates them:
// each user of an AlterUserScramCredentials request is checked on its own
// and answered on its own; the alterations that pass are applied together.

import (
	"errors"
	"fmt"

	"github.com/eddy-streaming/eddy/internal/auth"
	"github.com/eddy-streaming/eddy/internal/meta"
)

var (
	// ErrUnacceptableCredential is an empty user name, iterations outside
	// 4096..16384, or an empty salt or salted password
	// (UNACCEPTABLE_CREDENTIAL).
	ErrUnacceptableCredential = errors.New("controller: unacceptable SCRAM credential")
	// ErrUnsupportedMechanism is a SCRAM mechanism other than SCRAM-SHA-256
	// and SCRAM-SHA-512 (UNSUPPORTED_SASL_MECHANISM).
	ErrUnsupportedMechanism = errors.New("controller: unknown SCRAM mechanism")
	// ErrDuplicateUser is a user altered twice in one request, even for
	// two mechanisms or an upsertion and a deletion (DUPLICATE_RESOURCE).
	ErrDuplicateUser = errors.New("controller: a user credential cannot be altered twice in the same request")
)

// ScramUpsertion creates or replaces a user's credential for a mechanism
// from what a client sends: a salt and the salted password, never the
// password.
type ScramUpsertion struct {
	User           string
	Mechanism      auth.Mechanism
	Iterations     int32
	Salt           []byte
	SaltedPassword []byte
}

// ScramDeletion removes a user's credential for a mechanism.
type ScramDeletion struct {
	User      string
	Mechanism auth.Mechanism
}

// ScramResult is the outcome for one user of an alteration.
type ScramResult struct {
	User string
	Err  error
}

// scramAttempts bounds the retries of an alteration whose deletion met a
// credential deleted meanwhile by another node: each retry validates
// against a newer image, where that deletion fails alone.
const scramAttempts = 3

// AlterScramCredentials applies deletions and upsertions, answering each
// user named once (as Kafka does: successful deletions, then successful
// upsertions, then failures, each in request order). The successful ones
// are applied as one batch; if that fails they all carry its error.
func (c *Controller) AlterScramCredentials(deletions []ScramDeletion, upsertions []ScramUpsertion) []ScramResult {
	var (
		plan scramPlan
		err  error
	)
	for range scramAttempts {
		_, err = c.cfg.Store.Propose(func(img *meta.Image) ([]meta.Record, error) {
			plan = planScram(img, deletions, upsertions)
			if len(plan.records) == 0 {
				return nil, errNothingToApply
			}
			return plan.records, nil
		})
		if !errors.Is(err, meta.ErrUnknownScramCredential) {
			break
		}
	}
	if errors.Is(err, errNothingToApply) {
		err = nil
	}
	return plan.results(err)
}

// errNothingToApply stops a proposal with no records: every user failed.
var errNothingToApply = errors.New("controller: nothing to apply")

// scramPlan is the records an alteration makes and each user's outcome.
type scramPlan struct {
	records []meta.Record
	ok      []string // users whose alteration made records, in Kafka's order
	failed  []ScramResult
}

// results answers every user: the successful ones with applyErr (nil
// when the batch applied), then the failed ones.
func (p scramPlan) results(applyErr error) []ScramResult {
	out := make([]ScramResult, 0, len(p.ok)+len(p.failed))
	for _, u := range p.ok {
		out = append(out, ScramResult{User: u, Err: applyErr})
	}
	return append(out, p.failed...)
}

// planScram follows ScramControlManager.alterCredentials: deletions are
// checked first, then upsertions; a user named a second time anywhere
// fails with ErrDuplicateUser, and once a user failed its later entries
// are ignored.
func planScram(img *meta.Image, deletions []ScramDeletion, upsertions []ScramUpsertion) scramPlan {
	var (
		order   []string
		failed  = map[string]error{}
		deletes = map[string]ScramDeletion{}
		upserts = map[string]ScramUpsertion{}
	)
	fail := func(user string, err error) {
		delete(deletes, user)
		delete(upserts, user)
		failed[user] = err
	}
	seen := func(user string) bool {
		_, d := deletes[user]
		_, u := upserts[user]
		if !d && !u && failed[user] == nil {
			order = append(order, user)
		}
		return d || u
	}
	for _, d := range deletions {
		switch {
		case failed[d.User] != nil:
		case seen(d.User):
			fail(d.User, fmt.Errorf("%w: user %q", ErrDuplicateUser, d.User))
		default:
			if err := checkDeletion(img, d); err != nil {
				fail(d.User, err)
			} else {
				deletes[d.User] = d
			}
		}
	}
	for _, u := range upsertions {
		switch {
		case failed[u.User] != nil:
		case seen(u.User):
			fail(u.User, fmt.Errorf("%w: user %q", ErrDuplicateUser, u.User))
		default:
			if err := checkUpsertion(u); err != nil {
				fail(u.User, err)
			} else {
				upserts[u.User] = u
			}
		}
	}
	return makeScramPlan(order, failed, deletes, upserts)
}

// makeScramPlan turns the checked alterations into records, in Kafka's
// order: deletions, then upsertions.
func makeScramPlan(order []string, failed map[string]error, deletes map[string]ScramDeletion, upserts map[string]ScramUpsertion) scramPlan {
	var p scramPlan
	for _, user := range order {
		if d, ok := deletes[user]; ok {
			p.records = append(p.records, meta.RemoveScramCredentialRecord{User: d.User, Mechanism: d.Mechanism})
			p.ok = append(p.ok, user)
		}
	}
	for _, user := range order {
		if u, ok := upserts[user]; ok {
			// Only what the SCRAM server needs is stored: the salted
			// password becomes the stored and server keys here.
			cred := auth.FromSaltedPassword(u.Mechanism, u.SaltedPassword, u.Salt, u.Iterations)
			p.records = append(p.records, meta.ScramCredentialRecord{User: u.User, Credential: cred})
			p.ok = append(p.ok, user)
		}
	}
	for _, user := range order {
		if err := failed[user]; err != nil {
			p.failed = append(p.failed, ScramResult{User: user, Err: err})
		}
	}
	return p
}

func checkUserAndMechanism(user string, m auth.Mechanism) error {
	if user == "" {
		return fmt.Errorf("%w: the user name must not be empty", ErrUnacceptableCredential)
	}
	if m.Hash() == nil {
		return fmt.Errorf("%w: %d", ErrUnsupportedMechanism, m)
	}
	return nil
}

func checkDeletion(img *meta.Image, d ScramDeletion) error {
	if err := checkUserAndMechanism(d.User, d.Mechanism); err != nil {
		return err
	}
	if _, ok := img.ScramCredential(d.User, d.Mechanism); !ok {
		return fmt.Errorf("%w: attempt to delete a user credential that does not exist: user %q, %v",
			meta.ErrUnknownScramCredential, d.User, d.Mechanism)
	}
	return nil
}

func checkUpsertion(u ScramUpsertion) error {
	if err := checkUserAndMechanism(u.User, u.Mechanism); err != nil {
		return err
	}
	switch {
	case u.Iterations < auth.MinIterations:
		return fmt.Errorf("%w: too few iterations (%d, at least %d)", ErrUnacceptableCredential, u.Iterations, auth.MinIterations)
	case u.Iterations > auth.MaxIterations:
		return fmt.Errorf("%w: too many iterations (%d, at most %d)", ErrUnacceptableCredential, u.Iterations, auth.MaxIterations)
	case len(u.Salt) == 0:
		return fmt.Errorf("%w: empty salt", ErrUnacceptableCredential)
	case len(u.SaltedPassword) == 0:
		return fmt.Errorf("%w: empty salted password", ErrUnacceptableCredential)
	}
	return nil
}

// bootstrapIterations is the iteration count of the bootstrap user's
// credentials: Kafka's minimum, as kafka-storage.sh --add-scram uses.
const bootstrapIterations = auth.MinIterations

// BootstrapUser gives user SCRAM-SHA-256 and SCRAM-SHA-512 credentials of
// password unless the user has a credential already, which is kept: it
// reports whether it created them. Every node of a cluster may call it at
// once; the records are create-only, so the first to commit wins and the
// others change nothing.
func (c *Controller) BootstrapUser(user, password string) (bool, error) {
	if len(c.cfg.Store.Image().ScramCredentials(user)) > 0 {
		return false, nil // the common case: skip the key derivation
	}
	var records []meta.Record
	for _, m := range auth.Mechanisms {
		cred, err := auth.NewCredential(m, password, bootstrapIterations)
		if err != nil {
			return false, fmt.Errorf("controller: bootstrap user %q: %w", user, err)
		}
		records = append(records, meta.ScramCredentialRecord{User: user, Credential: cred, CreateOnly: true})
	}
	_, err := c.cfg.Store.Propose(func(img *meta.Image) ([]meta.Record, error) {
		if len(img.ScramCredentials(user)) > 0 {
			return nil, meta.ErrScramCredentialExists
		}
		return records, nil
	})
	if errors.Is(err, meta.ErrScramCredentialExists) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("controller: bootstrap user %q: %w", user, err)
	}
	return true, nil
}

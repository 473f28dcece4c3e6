package controller

import (
	"errors"
	"slices"

	"github.com/eddy-streaming/eddy/internal/acl"
	"github.com/eddy-streaming/eddy/internal/meta"
)

// errNothingToDo ends a proposal that would change nothing.
var errNothingToDo = errors.New("controller: nothing to do")

// CreateACLs creates bindings, as Kafka's AclControlManager.createAcls: each
// is validated on its own (an invalid one's error, wrapping acl.ErrInvalid,
// is its answer and the others go on), and the valid ones not already held
// are created together in one proposal; one already held, or named twice,
// succeeds without a second copy. The answer has one error per binding, nil
// for success; a failed proposal fails every valid binding with its error.
func (c *Controller) CreateACLs(bindings []acl.Binding) []error {
	errs := make([]error, len(bindings))
	valid := false
	for i, b := range bindings {
		errs[i] = b.Validate()
		valid = valid || errs[i] == nil
	}
	if !valid {
		return errs
	}
	_, err := c.cfg.Store.Propose(func(img *meta.Image) ([]meta.Record, error) {
		var records []meta.Record
		chosen := map[[16]byte]bool{}
		seen := map[acl.Binding]bool{}
		taken := func(id [16]byte) bool { return chosen[id] || img.HasACLID(id) }
		for i, b := range bindings {
			if _, held := img.ACLID(b); errs[i] != nil || held || seen[b] {
				continue
			}
			seen[b] = true
			id := c.cfg.NewID(taken)
			chosen[id] = true
			records = append(records, meta.ACLRecord{ID: id, Binding: b})
		}
		if len(records) == 0 {
			return nil, errNothingToDo
		}
		return records, nil
	})
	if err != nil && !errors.Is(err, errNothingToDo) {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	}
	return errs
}

// ACLDeletion is what DeleteACLs answers for one filter: the bindings it
// removed, or why it removed none.
type ACLDeletion struct {
	Deleted []acl.Binding
	Err     error
}

// DeleteACLs removes every binding each filter matches, as Kafka's
// AclControlManager.deleteAcls: a filter with an unknown element is
// refused on its own (acl.ErrInvalid); the removals of all the others are
// one proposal, so either all happen or none. A binding two filters match
// is removed once and answered by both. A failed proposal is every valid
// filter's error.
func (c *Controller) DeleteACLs(filters []acl.Filter) []ACLDeletion {
	out := make([]ACLDeletion, len(filters))
	for i, f := range filters {
		out[i].Err = f.Validate()
	}
	_, err := c.cfg.Store.Propose(func(img *meta.Image) ([]meta.Record, error) {
		var ids [][16]byte
		all := img.ACLs()
		for i, f := range filters {
			out[i].Deleted = nil // a retried proposal starts over
			if out[i].Err != nil {
				continue
			}
			for _, a := range all {
				if f.Matches(a.Binding) {
					out[i].Deleted = append(out[i].Deleted, a.Binding)
					ids = append(ids, a.ID)
				}
			}
		}
		slices.SortFunc(ids, func(x, y [16]byte) int { return slices.Compare(x[:], y[:]) })
		ids = slices.Compact(ids)
		if len(ids) == 0 {
			return nil, errNothingToDo
		}
		records := make([]meta.Record, len(ids))
		for i, id := range ids {
			records[i] = meta.RemoveACLRecord{ID: id}
		}
		return records, nil
	})
	if err != nil && !errors.Is(err, errNothingToDo) {
		for i := range out {
			if out[i].Err == nil {
				out[i] = ACLDeletion{Err: err}
			}
		}
	}
	return out
}

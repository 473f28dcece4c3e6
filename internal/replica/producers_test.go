package replica

import (
	"context"

	"github.com/eddy-streaming/eddy/internal/storage"
)

// Producers: the fake log keeps no producer state.
func (f *fakeLog) Producers(context.Context) ([]storage.ProducerState, error) { return nil, nil }

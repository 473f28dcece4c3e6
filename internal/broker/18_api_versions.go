package broker

// ApiVersions v0–v5. A request at a version newer than we serve is answered
// by the connection layer in v0 form with UNSUPPORTED_VERSION, as Kafka does
// (KIP-511), so this handler only sees versions it can parse.

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleApiVersions(b *Broker, _ context.Context, r *Request) (*Response, error) {
	req := r.Msg.(*kmsg.ApiVersionsRequest)
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	resp.ApiKeys = APIVersionKeys()
	// Features (v3+). transaction.version is the one clients act on: at
	// 2 they use KIP-890 part 2. Eddy supports no other feature level
	// that changes what a client sends.
	level := int16(b.settings().Int("eddy.transaction.version"))
	sf := kmsg.NewApiVersionsResponseSupportedFeature()
	sf.Name, sf.MinVersion, sf.MaxVersion = "transaction.version", 0, 2
	resp.SupportedFeatures = append(resp.SupportedFeatures, sf)
	resp.FinalizedFeaturesEpoch = 0
	if level > 0 {
		ff := kmsg.NewApiVersionsResponseFinalizedFeature()
		ff.Name, ff.MinVersionLevel, ff.MaxVersionLevel = "transaction.version", level, level
		resp.FinalizedFeatures = append(resp.FinalizedFeatures, ff)
	}
	return respond(resp)
}

// APIVersionKeys lists the served APIs in key order, for ApiVersions
// responses including the UNSUPPORTED_VERSION fallback.
func APIVersionKeys() []kmsg.ApiVersionsResponseApiKey {
	keys := make([]kmsg.ApiVersionsResponseApiKey, 0, len(apis))
	for k, a := range apis {
		keys = append(keys, kmsg.ApiVersionsResponseApiKey{ApiKey: k, MinVersion: a.min, MaxVersion: a.max})
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].ApiKey < keys[j].ApiKey })
	return keys
}

package topic

import (
	"encoding/base64"

	"github.com/twmb/franz-go/pkg/kadm"
)

// topicID formats id the way Kafka's own tools do (URL-safe base64 without
// padding, Uuid.toString in Java); kadm's String uses padded standard base64,
// which would not match what users see elsewhere. The zero ID means the
// broker does not support topic IDs and prints as "".
func topicID(id kadm.TopicID) string {
	if id == (kadm.TopicID{}) {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(id[:])
}

package node_test

import (
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-streaming/eddy/internal/broker"
)

// fuzzPerVersion is how many mutated frames each served version of each
// API gets (EDDY_ADVERSARY_FUZZ_PER_VERSION raises it for a longer run).
// Successive versions start at different mutations, so every mutation is
// applied to every API.
func fuzzPerVersion(t *testing.T) int {
	if s := os.Getenv("EDDY_ADVERSARY_FUZZ_PER_VERSION"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	return 8
}

// fuzzAnswerWait bounds how long one connection waits for each answer. A
// frame that is neither answered nor closed in time (a long poll, a frame
// size that promises bytes never sent) is dropped by closing the socket.
const fuzzAnswerWait = 500 * time.Millisecond

// TestAdversaryFuzz sends every served API, at every served version,
// valid and then mutated (bit flips, truncation, huge and negative counts
// and lengths, swapped versions and keys, random tagged fields, duplicated
// frames), each on its own connection, to one live node per API. After each
// API the node must be healthy: no handler panicked, a fresh client can
// produce and consume, goroutines and heap are back near their baseline.
// Valid requests must be answered with a response that decodes.
func TestAdversaryFuzz(t *testing.T) {
	for _, k := range broker.APIVersionKeys() {
		name := kmsg.NameForKey(k.ApiKey)
		t.Run(name, func(t *testing.T) {
			fuzzAPI(t, k.ApiKey, k.MinVersion, k.MaxVersion)
		})
	}
}

func fuzzAPI(t *testing.T, key, lo, hi int16) {
	rng := advRand(t)
	tn := startNode(t, "", map[string]string{"group.initial.rebalance.delay.ms": "0", "group.min.session.timeout.ms": "1000"})
	h := newHealth(t, tn)
	tg := fuzzTarget{topic: "fz", group: "fzg"}
	adm := newAdmin(t, tn.KafkaAddr())
	createTopic(t, adm, tg.topic, 2, nil)
	createTopic(t, adm, tg.topic+"-gone", 1, nil)
	details, err := adm.ListTopics(testContext(t), tg.topic)
	if err != nil {
		t.Fatal(err)
	}
	tg.topicID = details[tg.topic].ID

	var cases []fuzzCase
	for v := lo; v <= hi; v++ {
		s := newSeed(validRequest(key, v, tg))
		cases = append(cases, fuzzCase{mutation: "none", raw: s.frame(s.body), answers: 1, valid: true})
		for i := range fuzzPerVersion(t) {
			c := mutate(rng, s, mutations[(i+int(v)*fuzzPerVersion(t))%len(mutations)])
			c.mutation = fmt.Sprintf("v%d/%s", v, c.mutation)
			cases = append(cases, c)
		}
	}
	stats := sendCases(t, tn.KafkaAddr(), key, cases)
	t.Logf("%d frames: %s", len(cases), stats)
	h.check(t, kmsg.NameForKey(key)+" fuzz")
}

// fuzzStats counts how the node treated the cases.
type fuzzStats struct {
	mu                           sync.Mutex
	answered, closed, timedOut   int
	validUnanswered, badResponse []string
}

func (s *fuzzStats) String() string {
	return fmt.Sprintf("answered %d, closed %d, timed out %d", s.answered, s.closed, s.timedOut)
}

// sendCases sends the cases from a few concurrent connections and reports
// valid requests that went unanswered or got an undecodable answer.
func sendCases(t *testing.T, addr string, key int16, cases []fuzzCase) *fuzzStats {
	t.Helper()
	var st fuzzStats
	work := make(chan fuzzCase)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				sendCase(addr, key, c, &st)
			}
		}()
	}
	for _, c := range cases {
		work <- c
	}
	close(work)
	wg.Wait()
	for _, m := range st.validUnanswered {
		if key != kmsg.JoinGroup.Int16() { // a classic join waits for the rebalance
			t.Errorf("valid request not answered in %v each: %s", fuzzAnswerWait, m)
		}
	}
	for _, m := range st.badResponse {
		t.Errorf("response does not decode: %s", m)
	}
	return &st
}

func sendCase(addr string, key int16, c fuzzCase, st *fuzzStats) {
	resps, timedOut, err := exchangeAll(addr, c.raw, c.answers, time.Duration(c.answers)*fuzzAnswerWait)
	st.mu.Lock()
	defer st.mu.Unlock()
	switch {
	case err != nil:
		st.validUnanswered = append(st.validUnanswered, fmt.Sprintf("%s: %v", c.mutation, err))
		return
	case timedOut:
		st.timedOut++
	case len(resps) < c.answers:
		st.closed++
	default:
		st.answered++
	}
	if !c.valid {
		return
	}
	if len(resps) < c.answers {
		st.validUnanswered = append(st.validUnanswered, fmt.Sprintf("%s: %d of %d answers (frame %s)", c.mutation, len(resps), c.answers, hex.EncodeToString(c.raw[:min(len(c.raw), 64)])))
	}
	for _, r := range resps {
		if err := decodeResponse(key, c.raw, r); err != nil {
			st.badResponse = append(st.badResponse, fmt.Sprintf("%s: %v", c.mutation, err))
		}
	}
}

// decodeResponse reads a response body at the version the frame asked for.
func decodeResponse(key int16, raw, body []byte) error {
	version := int16(raw[6])<<8 | int16(raw[7])
	resp := kmsg.ResponseForKey(key)
	resp.SetVersion(version)
	if resp.IsFlexible() && key != kmsg.ApiVersions.Int16() {
		if len(body) == 0 {
			return fmt.Errorf("v%d: empty response", version)
		}
		body = body[1:] // response header tags
	}
	if err := resp.ReadFrom(body); err != nil {
		return fmt.Errorf("v%d: %w", version, err)
	}
	return nil
}

// exchangeAll writes raw on a new connection and reads up to want answers,
// stopping early if the broker closes the connection or wait passes.
func exchangeAll(addr string, raw []byte, want int, wait time.Duration) (resps [][]byte, timedOut bool, err error) {
	c, err := dialRaw(addr)
	if err != nil {
		return nil, false, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(wait))
	if _, err := c.Write(raw); err != nil {
		return nil, false, nil // closed before reading it all
	}
	for len(resps) < want {
		_, body, err := readResponse(c)
		if err != nil {
			return resps, isTimeout(err), nil
		}
		resps = append(resps, body)
	}
	return resps, false, nil
}

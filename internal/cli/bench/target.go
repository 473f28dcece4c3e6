package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/eddy-streaming/eddy/internal/cli/client"
)

// kfakeName is the --against value that starts kfake in-process.
const kfakeName = "kfake"

// targetFlags choose the broker a client workload runs against.
type targetFlags struct {
	client.Options
	against string
	kfake   bool
}

func (t *targetFlags) register(cmd *cobra.Command) {
	t.Options.Register(cmd)
	cmd.Flags().StringVar(&t.against, "against", "", `broker address, an alias of --brokers; "kfake" starts kfake in-process`)
	cmd.Flags().BoolVar(&t.kfake, "kfake", false, "run against franz-go's in-memory fake broker started in-process on a free port")
}

// useKfake reports whether the run targets an in-process kfake.
func (t *targetFlags) useKfake() bool { return t.kfake || t.against == kfakeName }

// realTarget returns the broker the connection flags (and profile) name,
// --against replacing the seeds when given; TLS and SASL apply either way.
func (t *targetFlags) realTarget() (target, error) {
	c, err := t.Resolve()
	if err != nil {
		return target{}, err
	}
	if t.against != "" {
		c.Brokers = strings.Split(t.against, ",")
	}
	return realTarget(c), nil
}

// target is a resolved broker: how to connect to it, the name printed in
// results, and how to stop it when it was started here.
type target struct {
	conn client.Conn
	name string
	stop func()
}

// realTarget is a broker that runs elsewhere.
func realTarget(conn client.Conn) target {
	return target{conn: conn, name: strings.Join(conn.Brokers, ","), stop: func() {}}
}

// startKfake starts a one-broker kfake on a free loopback port with topic
// already created, so the workload sees what --create gives a real broker.
func startKfake(topic string, partitions int) (target, error) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(int32(partitions), topic))
	if err != nil {
		return target{}, fmt.Errorf("starting kfake: %w", err)
	}
	return target{conn: client.Conn{Brokers: c.ListenAddrs()}, name: kfakeName, stop: c.Close}, nil
}

// resolve returns the target the flags name, starting kfake if asked.
func (t *targetFlags) resolve(topic string, partitions int) (target, error) {
	if t.useKfake() {
		return startKfake(topic, partitions)
	}
	return t.realTarget()
}

// createTopic creates topic with rf replicas (-1: the broker's default); an
// existing topic is left as it is.
func createTopic(ctx context.Context, conn client.Conn, topic string, partitions, rf int) error {
	cl, err := conn.NewClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, int32(partitions), int16(rf), nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("creating topic %s: %w", topic, err)
	}
	return nil
}

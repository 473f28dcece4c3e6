package controller

import (
	"cmp"
	"fmt"
	"maps"
	"slices"

	"github.com/eddy-streaming/eddy/internal/meta"
)

// replicationFactor resolves a requested replication factor: -1 takes
// default.replication.factor, which on a cluster left at its default is
// min(3, live brokers) (Kafka's default of 1 would leave a cluster's topics
// unreplicated).
func (c *Controller) replicationFactor(img *meta.Image, rf int16) int16 {
	if rf != -1 {
		return rf
	}
	settings := c.cfg.Store.BrokerConfig(c.cfg.Settings, c.cfg.Node)
	if v, isDefault := settings.Value("default.replication.factor"); !isDefault || len(img.Brokers()) == 0 {
		var n int16
		fmt.Sscan(v, &n)
		return max(n, 1)
	}
	return int16(min(3, max(1, len(img.LiveBrokers()))))
}

// place chooses the replicas of n new partitions of topic, numbered from
// first, over the live brokers (this node alone on a standalone node).
// Leaders go round-robin from a start that hashes the topic's name, so
// topics of one partition do not all land on the same broker; followers
// follow the leader at a shift that changes every round, so the replicas
// of one broker's partitions spread over all the others (Kafka's
// assignment). With racks, brokers are taken rack by rack in turn and each
// partition's replicas cover as many racks as there are.
func (c *Controller) place(img *meta.Image, topic string, first, n int32, rf int16) ([]meta.Partition, error) {
	out := make([]meta.Partition, n)
	if len(img.Brokers()) == 0 {
		if rf != 1 {
			return nil, fmt.Errorf("%w: %d, a standalone node holds one replica of each partition", meta.ErrInvalidReplicationFactor, rf)
		}
		for i := range out {
			out[i] = meta.LocalPartition(c.cfg.Node)
		}
		return out, nil
	}
	brokers := rackAlternated(img.LiveBrokers())
	nb := len(brokers)
	if rf < 1 || int(rf) > nb {
		return nil, fmt.Errorf("%w: %d, the cluster has %d live brokers", meta.ErrInvalidReplicationFactor, rf, nb)
	}
	start := spreadStart(topic)
	for i := range out {
		idx := start + int(first) + i
		lead := idx % nb
		replicas := []meta.Broker{brokers[lead]}
		var others []meta.Broker // every other broker, in the order they are offered
		for k := range nb - 1 {
			shift := 1 + (idx/nb+k)%max(nb-1, 1)
			others = append(others, brokers[(lead+shift)%nb])
		}
		// A broker on a rack not used yet first, then the rest in order.
		for _, b := range others {
			if len(replicas) < int(rf) && b.Rack != "" && !slices.ContainsFunc(replicas, func(r meta.Broker) bool { return r.Rack == b.Rack }) {
				replicas = append(replicas, b)
			}
		}
		for _, b := range others {
			if len(replicas) < int(rf) && !slices.ContainsFunc(replicas, func(r meta.Broker) bool { return r.ID == b.ID }) {
				replicas = append(replicas, b)
			}
		}
		ids := make([]int32, len(replicas))
		for j, r := range replicas {
			ids[j] = r.ID
		}
		out[i] = meta.Partition{Replicas: ids, ISR: slices.Clone(ids), Leader: ids[0]}
	}
	return out, nil
}

// placeOrAssign places n new partitions, by hand when assignment is set.
func (c *Controller) placeOrAssign(img *meta.Image, topic string, first, n int32, rf int16, assignment [][]int32) ([]meta.Partition, error) {
	if assignment == nil {
		return c.place(img, topic, first, n, rf)
	}
	return c.assign(img, assignment, rf)
}

// assign checks a manual assignment: rf distinct replicas per partition,
// each a registered broker (this node, standalone), at least one of them
// live. The live ones form the ISR, the first of them leads.
func (c *Controller) assign(img *meta.Image, assignment [][]int32, rf int16) ([]meta.Partition, error) {
	standalone := len(img.Brokers()) == 0
	out := make([]meta.Partition, len(assignment))
	for i, replicas := range assignment {
		if len(replicas) != int(rf) {
			return nil, fmt.Errorf("%w: partition %d has %d replicas, the others %d", meta.ErrInvalidReplicaAssignment, i, len(replicas), rf)
		}
		var isr []int32
		for j, r := range replicas {
			_, registered := img.Broker(r)
			switch {
			case slices.Contains(replicas[:j], r):
				return nil, fmt.Errorf("%w: partition %d lists broker %d twice", meta.ErrInvalidReplicaAssignment, i, r)
			case standalone && r != c.cfg.Node:
				return nil, fmt.Errorf("%w: partition %d must be assigned to node %d only", meta.ErrInvalidReplicaAssignment, i, c.cfg.Node)
			case !standalone && !registered:
				return nil, fmt.Errorf("%w: partition %d names broker %d, which is not registered", meta.ErrInvalidReplicaAssignment, i, r)
			}
			if standalone || img.Live(r) {
				isr = append(isr, r)
			}
		}
		if len(isr) == 0 {
			return nil, fmt.Errorf("%w: every broker of partition %d is fenced", meta.ErrInvalidReplicaAssignment, i)
		}
		out[i] = meta.Partition{Replicas: slices.Clone(replicas), ISR: isr, Leader: isr[0]}
	}
	return out, nil
}

// rackAlternated orders brokers by id, or with racks one from each rack
// in turn (racks by name, brokers of a rack by id), so neighbours in the
// order sit on different racks.
func rackAlternated(brokers []meta.Broker) []meta.Broker {
	byRack := map[string][]meta.Broker{}
	for _, b := range brokers {
		byRack[b.Rack] = append(byRack[b.Rack], b)
	}
	if len(byRack) <= 1 {
		return slices.SortedFunc(slices.Values(brokers), func(a, b meta.Broker) int { return cmp.Compare(a.ID, b.ID) })
	}
	racks := slices.Sorted(maps.Keys(byRack))
	var out []meta.Broker
	for round := 0; len(out) < len(brokers); round++ {
		for _, r := range racks {
			if round < len(byRack[r]) {
				out = append(out, byRack[r][round])
			}
		}
	}
	return out
}

// spreadStart is where a topic's round-robin placement starts: a hash of
// its name, the same on every node.
func spreadStart(topic string) int {
	h := 0
	for _, c := range []byte(topic) {
		h = h*31 + int(c)
	}
	return h & 0x7fffffff
}

// checkLimit refuses to take any broker past its partition limits:
// max.broker.partitions counts the replicas one broker holds, and
// max.partitions the partitions of the whole cluster (KIP-578).
func (c *Controller) checkLimit(img *meta.Image, placed []meta.Partition) error {
	settings := c.cfg.Store.BrokerConfig(c.cfg.Settings, c.cfg.Node)
	adding := int64(len(placed))
	if limit := settings.Int("max.partitions"); img.PartitionCount()+adding > limit {
		return &LimitError{Adding: adding, Total: img.PartitionCount() + adding, Limit: limit, Broker: -1}
	}
	limit := settings.Int("max.broker.partitions")
	held := map[int32]int64{}
	for _, p := range placed {
		for _, r := range p.Replicas {
			held[r]++
		}
	}
	if len(held) == 0 {
		return nil
	}
	for _, t := range img.Topics() {
		for _, p := range t.Assignments {
			for _, r := range p.Replicas {
				if _, ok := held[r]; ok {
					held[r]++
				}
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(held)) {
		if held[id] > limit {
			return &LimitError{Adding: adding, Total: held[id], Limit: limit, Broker: id}
		}
	}
	return nil
}

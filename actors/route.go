package actors

import (
	"context"
	"hash/fnv"
	"slices"
	"time"

	"github.com/anthdm/hollywood/actor"

	"github.com/backlot/backlot/actors/clusterpb"
	"github.com/backlot/backlot/actors/resize"
	"github.com/backlot/backlot/persistence"
	"google.golang.org/protobuf/types/known/durationpb"
)

// The clustered paths (Config.Cluster set). A batch's supervisor runs on
// its owner: the member with the highest hash of (address, batch id)
// (rendezvous hashing), so members that agree on the member list agree on
// the owner, and a member leaving moves only the batches it owned. Every
// node's manager routes a batch's messages to the owner's manager
// ("manager/node" on that address), which spawns the supervisor locally.
// Messages that cross nodes are the clusterpb ones; local ones stay plain
// structs. A PID on an address that is not a current member is never sent
// to: Hollywood v1.0.5's router dials it inside its actor and stalls every
// outgoing message for ~3 s (CLUSTER.md).

// membersEvery is how often the member list is read from the cluster agent.
const membersEvery = 200 * time.Millisecond

// membersChanged is broadcast on the engine's event stream when the member
// list changes; old and now are sorted addresses.
type membersChanged struct{ old, now []string }

// Owner is the address, among members, of the member that runs batchID's
// supervisor (tests use it to find the node to kill).
func Owner(batchID string, members []string) string {
	var best string
	var bestH uint64
	for _, a := range members {
		h := fnv.New64a()
		h.Write([]byte(a))
		h.Write([]byte{'/'})
		h.Write([]byte(batchID))
		if v := h.Sum64(); best == "" || v > bestH {
			best, bestH = a, v
		}
	}
	return best
}

// clustered reports whether this system is a member of a cluster.
func (s *System) clustered() bool { return s.cfg.Cluster != nil }

// self is this node's cluster address.
func (s *System) self() string { return s.cfg.Cluster.Addr() }

// memberList is the last member list read (sorted addresses); just this
// node before the first read.
func (s *System) memberList() []string {
	if p := s.members.Load(); p != nil {
		return *p
	}
	return []string{s.self()}
}

// ownerOf is the address of batchID's supervisor as this node sees it.
func (s *System) ownerOf(batchID string) string { return Owner(batchID, s.memberList()) }

// reachable reports whether a message to pid may be sent: a local PID, one
// on a current member, or one on a node a message came from within
// heardFor (a node that just joined: it claims and subscribes at once,
// while the members here may not list it for a second or so yet, and an
// answer dropped then would wait for HeldTimeout).
func (s *System) reachable(pid *actor.PID) bool {
	return pid.Address == s.engine.Address() || slices.Contains(s.memberList(), pid.Address) || s.heardLately(pid.Address)
}

// heardFor is how long a message from a node makes it reachable without
// being a member. A member that leaves is forgotten at once (watchMembers),
// so a dead node is never dialled for longer than before.
const heardFor = 2 * time.Second

// heard records that a message came from the node of pid.
func (s *System) heard(pid *actor.PID) {
	if pid != nil && pid.Address != s.engine.Address() {
		s.heardAt.Store(pid.Address, time.Now())
	}
}

func (s *System) heardLately(addr string) bool {
	v, ok := s.heardAt.Load(addr)
	return ok && time.Since(v.(time.Time)) < heardFor
}

// send sends msg to pid unless pid's node is not a member (see above).
func (s *System) send(pid *actor.PID, msg any) {
	if pid == nil || !s.reachable(pid) {
		return
	}
	s.engine.Send(pid, msg)
}

// managerAt is the manager of the node at addr.
func managerAt(addr string) *actor.PID { return actor.NewPID(addr, "manager/node") }

// watchMembers reads the member list until ctx ends and broadcasts each
// change. Polling keeps it independent of the agent's event ordering; the
// provider drops a killed member within milliseconds, so 200 ms dominates.
func (s *System) watchMembers(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(membersEvery)
	defer t.Stop()
	for {
		ms := s.cfg.Cluster.Members()
		if len(ms) > 0 {
			now := make([]string, 0, len(ms))
			for _, m := range ms {
				now = append(now, m.Addr)
			}
			slices.Sort(now)
			if old := s.memberList(); !slices.Equal(old, now) {
				for _, a := range old {
					if !slices.Contains(now, a) {
						s.heardAt.Delete(a) // left: never dialled again
					}
				}
				s.members.Store(&now)
				s.cfg.Logger.Info("cluster members changed", "members", now)
				s.engine.BroadcastEvent(membersChanged{old: old, now: now})
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// remoteFailure is an attempt's error after it crossed a node: its text,
// and whether it was permanent (it then wraps resize.ErrUnsupported, so
// resize.Permanent holds; resize.Message is the text as it was).
type remoteFailure struct {
	msg       string
	permanent bool
}

func (e *remoteFailure) Error() string { return e.msg }
func (e *remoteFailure) Unwrap() error {
	if e.permanent {
		return resize.ErrUnsupported
	}
	return nil
}

func toWorkDone(m *clusterpb.WorkDone) workDone {
	d := workDone{job: m.GetJob().Persistence(), attempt: int(m.GetAttempt()), took: m.Duration(), pool: m.GetPool()}
	d.res = resize.Result{Width: int(m.GetWidth()), Height: int(m.GetHeight()), Bytes: m.GetBytes(), Sum: m.GetSum()}
	if f := m.GetFailure(); f != nil {
		d.err = &remoteFailure{msg: f.GetMessage(), permanent: f.GetPermanent()}
	}
	return d
}

func fromWorkDone(d workDone) *clusterpb.WorkDone {
	m := &clusterpb.WorkDone{
		Job: clusterpb.FromJob(d.job), Attempt: int32(d.attempt), Width: int32(d.res.Width),
		Height: int32(d.res.Height), Bytes: d.res.Bytes, Sum: d.res.Sum, Took: durationpb.New(d.took), Pool: d.pool,
	}
	if d.err != nil {
		f := &clusterpb.Failure{Message: resize.Message(d.err), Permanent: resize.Permanent(d.err)}
		m.Failure = f
	}
	return m
}

// route sends a batch message to its owner: to the local supervisor (as
// local, the plain struct) or to the owner's manager (as proto).
func (m *manager) route(c *actor.Context, batchID string, local any, remote func() any) {
	o := m.sys.ownerOf(batchID)
	if o == m.sys.self() {
		c.Send(m.supervisor(c, batchID), local)
		return
	}
	m.sys.send(managerAt(o), remote())
}

// clusterReceive handles the clustered manager's messages; it reports
// whether msg was one.
func (m *manager) clusterReceive(c *actor.Context, msg any) bool {
	if m.handoverReceive(c, msg) {
		return true
	}
	switch msg := msg.(type) {
	// From this node: route to the owner.
	case claimed:
		m.route(c, msg.job.BatchID, msg, func() any {
			return &clusterpb.Claimed{Job: clusterpb.FromJob(msg.job), Pool: msg.pool}
		})
	case workDone:
		m.route(c, msg.job.BatchID, msg, func() any { return fromWorkDone(msg) })
	case subscribe:
		m.route(c, msg.batchID, msg, func() any {
			return &clusterpb.Subscribe{BatchId: msg.batchID, After: msg.after, Sub: msg.sub}
		})
	case unsubscribe:
		o := m.sys.ownerOf(msg.batchID)
		if o != m.sys.self() {
			m.sys.send(managerAt(o), &clusterpb.Unsubscribe{BatchId: msg.batchID, Sub: msg.sub})
		} else if pid, ok := m.sups[msg.batchID]; ok {
			c.Send(pid, msg)
		}
	// From another node's manager: this node owns the batch (as that node
	// saw it); handled here, never forwarded again.
	case *clusterpb.Claimed:
		m.sys.heard(msg.GetPool())
		j := msg.GetJob().Persistence()
		c.Send(m.supervisor(c, j.BatchID), claimed{job: j, pool: msg.GetPool()})
	case *clusterpb.WorkDone:
		m.sys.heard(msg.GetPool())
		d := toWorkDone(msg)
		c.Send(m.supervisor(c, d.job.BatchID), d)
	case *clusterpb.Subscribe:
		m.sys.heard(msg.GetSub())
		c.Send(m.supervisor(c, msg.GetBatchId()), subscribe{batchID: msg.GetBatchId(), after: msg.GetAfter(), sub: msg.GetSub()})
	case *clusterpb.Unsubscribe:
		if pid, ok := m.sups[msg.GetBatchId()]; ok {
			c.Send(pid, unsubscribe{batchID: msg.GetBatchId(), sub: msg.GetSub()})
		}
	default:
		return false
	}
	return true
}

// settle tells the pool that claimed job what to do with it (clustered
// mode: the claiming node's store acks and requeues, see clusterpb.Settle).
func (s *supervisor) settle(job persistence.Job, st *clusterpb.Settle) {
	pool, ok := s.pools[job]
	if !ok {
		pool = s.sys.pool
	}
	st.Job = clusterpb.FromJob(job)
	s.sys.send(pool, st)
}

// freeSlot gives a claim slot back to the pool that claimed job.
func (s *supervisor) freeSlot(c *actor.Context, job persistence.Job) {
	if s.sys.clustered() {
		s.settle(job, &clusterpb.Settle{FreeSlot: true})
		return
	}
	c.Send(s.sys.pool, slotFree{})
}

// dispatch hands an attempt to the pool that claimed its job: the plain
// work on this node, clusterpb.Work to another.
func (s *supervisor) dispatch(c *actor.Context, w work) {
	// The outcome comes back through the claiming pool and its manager, as
	// from another node, so it reaches the batch's owner as of then even if
	// this supervisor has handed the batch over meanwhile.
	if s.sys.clustered() {
		w.replyTo = s.sys.pool
	}
	pool, ok := s.pools[w.job]
	if !ok || pool.Address == c.PID().Address {
		c.Send(s.sys.pool, w)
		return
	}
	s.sys.send(pool, &clusterpb.Work{
		Job: clusterpb.FromJob(w.job), Opts: clusterpb.FromOptions(w.opts),
		Attempt: int32(w.attempt), ReplyTo: c.PID(),
	})
}

// deliver sends d to a subscriber: as is on this node, as clusterpb.Delivery
// to another.
func (s *supervisor) deliver(c *actor.Context, sub *actor.PID, d delivery) {
	if sub.Address == c.PID().Address {
		c.Send(sub, d)
		return
	}
	s.sys.send(sub, clusterpb.NewDelivery(d.events, d.final, d.err))
}

// heldJob is a job this node's pool claimed and has not been told to
// settle yet (clustered mode). gen numbers its last change; a job not at a
// resizer has a timer that checks, after HeldTimeout, whether it changed
// since (heldCheck).
type heldJob struct {
	atResizer bool
	gen       uint64
	timer     *time.Timer
}

// heldCheck: HeldTimeout passed since held job's change gen.
type heldCheck struct {
	job persistence.Job
	gen uint64
}

// hold records a change of a held job: at a resizer (its outcome comes
// back through the pool), or waiting for word from its supervisor, for at
// most HeldTimeout before it is sent again.
func (p *pool) hold(c *actor.Context, j persistence.Job, atResizer bool) {
	p.unhold(j)
	p.gen++
	h := heldJob{atResizer: atResizer, gen: p.gen}
	if !atResizer {
		e, self, msg := c.Engine(), c.PID(), heldCheck{job: j, gen: p.gen}
		h.timer = time.AfterFunc(p.sys.cfg.HeldTimeout, func() { e.Send(self, msg) })
	}
	p.held[j] = h
}

func (p *pool) unhold(j persistence.Job) {
	if h, ok := p.held[j]; ok {
		if h.timer != nil {
			h.timer.Stop()
		}
		delete(p.held, j)
	}
}

// resend sends a held job's claim again, to the batch's owner as of now.
func (p *pool) resend(c *actor.Context, j persistence.Job) {
	p.hold(c, j, false)
	c.Send(p.sys.manager, claimed{job: j, pool: c.PID()})
}

// clusterReceive handles the clustered pool's messages; it reports whether
// msg was one.
func (p *pool) clusterReceive(c *actor.Context, msg any) bool {
	switch m := msg.(type) {
	case claimed:
		p.hold(c, m.job, false)
		c.Send(p.sys.manager, m)
	case work:
		if _, ok := p.held[m.job]; ok {
			p.hold(c, m.job, true)
		}
		p.onWork(c, m)
	case *clusterpb.Work:
		j, o := m.GetJob().Persistence(), m.GetOpts().Persistence()
		if _, ok := p.held[j]; ok {
			p.hold(c, j, true)
		}
		f := p.sys.cfg.Files
		// The outcome comes back through the pool (marking the job as
		// reported) and this node's manager, which routes it to the
		// batch's supervisor as of then (the sender may be gone).
		p.onWork(c, work{
			job: j, opts: o, attempt: int(m.GetAttempt()), replyTo: c.PID(),
			src: f.Source(j.BatchID, j.ImageID), dst: f.Output(j.BatchID, j.ImageID, o.Format),
		})
	case workDone:
		// A remote supervisor's attempt ended here. Until it settles, the
		// job counts as not at a resizer again: if the outcome is lost with
		// a node that leaves, the job is re-sent.
		if _, ok := p.held[m.job]; ok {
			p.hold(c, m.job, false)
		}
		c.Send(p.sys.manager, m)
	case *clusterpb.Settle:
		p.onSettle(m)
	case heldCheck:
		if h, ok := p.held[m.job]; ok && h.gen == m.gen && !h.atResizer {
			p.sys.cfg.Logger.Info("no word on a claimed job; sending it again",
				"batch_id", m.job.BatchID, "image_id", m.job.ImageID, "after", p.sys.cfg.HeldTimeout)
			p.resend(c, m.job)
		}
	case membersChanged:
		// A supervisor lost with its node: every held job not at a
		// resizer (a claim, Work, outcome or Settle in flight, a backoff)
		// goes again to the batch's new owner, which drops it if its image
		// is terminal. Jobs at a resizer report through the pool and the
		// manager, which route to the new owner already.
		var lost []persistence.Job // resend changes held: not while ranging over it
		for j, h := range p.held {
			if o := Owner(j.BatchID, m.old); !h.atResizer && !slices.Contains(m.now, o) {
				lost = append(lost, j)
			}
		}
		for _, j := range lost {
			p.resend(c, j)
		}
	case actor.Stopped:
		c.Engine().Unsubscribe(c.PID())
		for j := range p.held {
			p.unhold(j)
		}
		return false
	default:
		return false
	}
	return true
}

// onSettle acks or requeues a job this pool claimed, as its supervisor says.
func (p *pool) onSettle(m *clusterpb.Settle) {
	j := m.GetJob().Persistence()
	p.unhold(j)
	st, log := p.sys.cfg.Store, p.sys.cfg.Logger
	if m.GetRequeue() {
		time.AfterFunc(m.GetAfter().AsDuration(), func() {
			ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
			defer cancel()
			if err := st.Requeue(ctx, j); err != nil {
				// Still in flight on this node: redone after its lease.
				log.Warn("requeue failed", "image_id", j.ImageID, "err", err)
			}
		})
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		if err := st.Ack(ctx, j); err != nil {
			log.Warn("ack failed", "image_id", j.ImageID, "err", err)
		}
		cancel()
	}
	if m.GetFreeSlot() {
		p.release()
	}
}

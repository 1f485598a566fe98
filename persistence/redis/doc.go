// Package redis is the persistence.Store that several Backlot nodes share:
// batches, their event logs and one work queue in a single Redis primary,
// standalone (redis://) or behind Sentinel (redis-sentinel://, see
// Failover).
//
// A node opens it with Open(ctx, Options{URL, NodeID, …}) and hands it to the
// HTTP layer and the actors, exactly as it would package bolt; nothing else
// imports it. It passes persistence/storetest unchanged; its own tests cover
// what only a shared queue has (leases, several nodes, Redis going away).
//
// # Layout
//
// P is Options.Prefix ("backlot"); every value is JSON of the persistence
// types.
//
//	P:batch:{id}         string  the Batch, rewritten by every append
//	P:events:{id}        list    its log: the event with seq n at index n-1
//	P:fence:{id}         string  its fence counter (persistence.Fencer): the latest writer's token
//	P:unfinished         set     ids of batches whose done is not recorded
//	P:done               zset    ids of done batches, scored by DoneAt in Unix µs: the retention index
//	P:pending            list    Jobs waiting: pushed right, claimed from the left
//	P:processing:<node>  list    Jobs a node claimed and has not acked
//	P:lease:<node>       string  the node is alive while this exists (PX LeaseTTL)
//	P:nodes              set     nodes that may hold jobs, so the reaper needs no SCAN
//
// {id} is a hash tag: under Redis Cluster a batch and its log share a slot.
// The other keys hash elsewhere, and Create (batch and jobs) and Append (log
// and the unfinished and done indexes) each write across slots in one MULTI,
// which a Cluster refuses (CROSSSLOT). Running on Cluster would take moving
// the indexes under per-batch keys, splitting Create in two with a
// start-up repair pass, and a queue that is not one list (every claim of
// every node goes through P:pending, so one shard would carry all of it
// anyway); this package does not do that. Sentinel gives the failover
// without the split.
//
// # Invariants
//
//   - Create is one MULTI/EXEC under a WATCH of the batch key, run only once
//     the key is seen absent (persistence.ErrExists otherwise): the batch,
//     event 1, its jobs and its unfinished entry appear together or not at all.
//   - Append reads the batch under WATCH, applies the events with
//     Batch.Decide (the rules live in package persistence, never here) and
//     writes the batch and the events, and on done moves the id from the
//     unfinished set to the done index, in one MULTI/EXEC. If another node
//     wrote the batch in between, EXEC fails and Append reads again (at
//     most 50 times). Every write of a log
//     also writes its batch key, so LLEN(log) == LastSeq, which Append checks;
//     so no gap, no repeated seq, no second terminal event, also across nodes.
//     Within one process, appends to a batch also take a mutex, so only
//     other nodes cause retries.
//   - AppendFenced is Append with P:fence:{id} WATCHed too and compared
//     with the writer's token in the same round; Fence INCRs it (a script
//     that first checks the batch exists). A Fence between the read and the
//     EXEC fails the EXEC, and the retry refuses with persistence.ErrFenced:
//     once a newer writer has fenced, an older one writes nothing more.
//     Delete removes the counter with the batch.
//   - A job is in exactly one place: pending, one node's processing list, or
//     nowhere once acked. Claim moves it with BLMOVE, which Redis runs
//     atomically, so a job goes to exactly one claimer on any node; Ack LREMs
//     it; Requeue moves it back with a script that pushes only what it
//     removed, so a job is never pending twice.
//   - Claim waits on the server (BLMOVE, 1 s at a time), not by polling; it
//     notices its ctx ending within that second and puts a job that arrived
//     meanwhile back at the front of the queue. Close closes the connections,
//     so a blocked Claim returns persistence.ErrClosed at once.
//
// # Leases
//
// A node SETs P:lease:<node> with PX LeaseTTL every LeaseTTL/3 (and adds
// itself to P:nodes again). Every LeaseTTL/2 each node reaps: for every
// other node in P:nodes whose lease key is gone, one script moves its whole
// processing list to the front of pending, order kept (jobs in flight were
// claimed before anything still pending, as bolt redelivers them), and drops
// the node from P:nodes. Checking the lease inside the script means a node
// that renews in time is never robbed. Open does the same for its own node
// at once, lease or no lease, so a restarted node redelivers its jobs without
// waiting; Close requeues nothing and leaves the lease to run out. Two live
// processes must therefore never share a NodeID: each would requeue the
// other's jobs when it opens.
//
// Delivery is at least once. A node that is alive but silent for longer than
// its lease (a long pause, a partition) may find its jobs requeued and run
// elsewhere too; its heartbeat logs that when it gets through again, and the
// event log refuses the second terminal event (persistence.ErrConflict),
// which workers already treat as "settled". One narrow gap: such a node,
// dropped from P:nodes, that claims a job and dies before its next heartbeat
// re-adds it, leaves that job in flight until a node with its NodeID opens.
//
// # Errors
//
// goredis.Nil becomes persistence.ErrNotFound; a refused or broken
// connection, a timeout, an exhausted pool, or a reply saying the server
// cannot serve now (LOADING, READONLY, MASTERDOWN, OOM, MISCONF …) an error
// wrapping persistence.ErrUnavailable and the cause; every call after Close,
// persistence.ErrClosed. Nothing retries behind the caller's back: go-redis's
// retries are off, because a MULTI/EXEC re-sent on a fresh connection would
// have lost its WATCH. So a write that fails with ErrUnavailable may or may
// not have happened: retrying a terminal event then gets ErrConflict if the
// first went through, and a retried processing event may be recorded twice
// (one attempt more in the log than ran).
//
// # Retention
//
// Redis expires nothing but leases. Backlot's retention (the actors'
// janitor, --retention after done) deletes finished batches through
// persistence.Retainer: Expired reads the done index, oldest first; Delete
// removes a done batch, its log and its index entry in one MULTI/EXEC. So
// memory holds the unfinished batches plus those finished within the
// retention period, about 650 bytes per image (measured: 16.5 KB for a batch
// of 100 images, 48.5 KB for its 202 events), a little more per retry: some
// 650 MB per million images. Redis must run with maxmemory-policy noeviction
// (Open logs a warning otherwise): an evicting Redis silently drops batches
// and queued jobs, and a volatile-* policy evicts leases first, which makes
// live nodes look dead.
//
// # What a Redis crash can lose
//
// Redis acknowledges a write once it is applied in memory; what survives a
// crash depends on its appendfsync setting. Under `appendonly yes,
// appendfsync everysec` (docker-compose.yml) Redis write()s its AOF buffer
// before it sends replies and fsyncs once a second. A crash of the machine
// (power, kernel) loses what was not yet fsynced: about the last second of
// acknowledged writes, up to two when the disk is slow. A crash of the
// redis-server process alone (SIGKILL, OOM killer) usually loses nothing,
// since the kernel has the data, but not always: while a previous fsync is
// still running, Redis holds new AOF writes back for up to 2 s and answers
// clients meanwhile. On our shared, busy test machine, 2 of 10 SIGKILLs right
// after a burst of appends lost acknowledged writes that way. A clean stop
// (SIGTERM, SHUTDOWN) loses nothing.
//
// After such a loss Backlot keeps its queue whole and its log consistent,
// but two promises of API.md can break. A batch created in the lost window
// is gone although its client got 202 (status 404; its uploaded files stay
// behind as orphans). And the tail of a log is lost with the batch's
// counters (both are written in one MULTI), so the log stays gap-free with
// one terminal event per image, but the seqs subscribers already saw are
// issued again to new events: a client resuming with a Last-Event-ID past
// the new end misses those. No job of a surviving batch is lost. A lost Ack
// brings its job back, and the log settles it: refused as a duplicate if
// its terminal event survived, run again if not. A lost Claim or Requeue
// leaves the job pending or in flight, to be redelivered; a lost retention
// Delete brings back a batch whose files are gone, which the janitor
// deletes again. Where a 202 must survive any crash, run Redis with
// `appendfsync always` (an fsync before each reply, as bolt commits; 0 of 5
// SIGKILLs lost anything in the same experiment) and accept the slower
// writes. Failover to an asynchronous replica can lose acknowledged writes
// the same way, unless they waited for it (Failover, next).
//
// # Failover
//
// With a redis-sentinel:// URL (Options.URL) the store talks to the
// primary that the Sentinels name, through go-redis's failover client:
// each new connection asks a Sentinel where the primary is, and a
// +switch-master from the Sentinels closes the connections to the old
// one. While no primary answers (the Sentinels have not agreed yet, or the
// new one has no replica to acknowledge writes) every call fails with
// ErrUnavailable, as in any outage, and works again afterwards without a
// restart.
//
// Replication is asynchronous: a primary acknowledges a write before any
// replica has it, and a replica promoted after the primary's death lacks
// what it had not received. So with Options.WaitReplicas = n, every write
// whose loss would break a promise sends WAIT n WaitTimeout on the
// connection that wrote, right after its EXEC (or script), and counts as
// done only when n replicas acknowledged it:
//
//   - Create: the 202 of an upload (a lost batch would be a 404 for a client
//     that was told 202);
//   - Append and AppendFenced: every event, terminal ones and done included
//     (a lost tail would reissue seqs subscribers already saw, and a lost
//     terminal event could let an image end twice);
//   - Fence: a token is handed out only once a replica holds it, so a
//     promoted replica never hands out a token already in use;
//   - Delete (retention), so a deleted batch does not come back.
//
// A WAIT that finds fewer replicas within WaitTimeout fails the call with
// ErrUnavailable, although the write happened on the primary: the outcome
// is "maybe written", as after any broken connection, and each caller
// already copes with that. An upload gets 503 and its files are removed;
// if the batch survives on the primary its jobs run, find no source and
// fail as unreadable, and retention deletes it: a batch nobody was told of,
// never one that was acknowledged and lost. A supervisor keeps its
// result and appends again later; a retried terminal event is refused as a
// duplicate when the first survived, and it reads the log again. A fence
// that failed may have moved the counter: a token is skipped, never
// reused.
//
// Not waited for: the queue's moves (Claim's BLMOVE, Ack, Requeue, the
// hand-back), leases and registration. Losing one costs a redelivery, never
// a second terminal event, because the log decides: a lost claim leaves
// the job pending (it runs twice; the log takes one terminal event), a
// lost lease renewal lets other nodes requeue the node's jobs, and a lost
// Ack or Requeue leaves the job in its node's processing list with no
// claim on it, which the node's own sweep (SweepNow, every
// max(LeaseTTL/2, 1 s)) puts back in pending after two looks. That sweep
// also catches an Ack or Requeue that failed while Redis was away, which a
// live node's lease would otherwise hold until its restart. Waiting on
// Claim would put a replica round trip on every claim, a blocking command,
// for nothing the log does not already guarantee.
//
// What WAIT does not close: a reader can see a write in the moment between
// its EXEC and its WAIT (tens of microseconds on one host, a replica round
// trip across machines). Should the primary die in that moment and the
// replica not get it, the reader saw something the promoted replica lacks.
// A supervisor fans out only acknowledged appends, and answers a subscribe
// by reading the store between its own writes, each acknowledged or
// failed; an append whose WAIT failed is visible to that read (as to an
// HTTP status) until a failover in that window drops it.
// WAIT n also does not make Sentinel promote one of the replicas that
// acknowledged: Sentinel promotes the replica with the highest replication
// offset among those of the best replica-priority, so keep the replicas'
// priorities equal, or wait for all of them.
//
// The price: one more round trip per write to the replica (measured in the
// README, and by bench/wait.sh), and writes fail (503) while fewer than n
// replicas are connected: with one replica, from a failover until the old
// primary is back as the new one's replica. Two replicas and WaitReplicas
// = 1 keep taking uploads through a failover. Redis's min-replicas-to-write
// is not needed for the guarantee (a partitioned old primary never gets a
// WAIT acknowledged, so nothing written there was acknowledged) but may be
// set too: a refused write (NOREPLICAS) fails at once instead of after
// WaitTimeout. Run the Sentinels with master-reboot-down-after-period, so a
// primary restarted before they noticed its death (with an AOF missing its
// last second) is failed over from rather than replicated from.
package redis

// Package cluster joins a Backlot node to its peers over Hollywood's
// remoting (v1.0.5): Start builds an engine whose remote listens on the
// node's cluster address and a membership actor on it; Members reports who
// the node sees and OnChange tells the actors each change. Without
// --cluster-listen a node is a cluster of one and this package is unused.
//
// Hollywood's cluster package is not used: its SelfManaged provider also
// browses mDNS (merging every Backlot on a network segment, every test run
// too) and calls log.Fatal without multicast, it addresses bootstrap
// members by id while --peers gives addresses, and its agent answers
// Members by a request that can time out. Backlot keeps the member list
// itself, speaking Hollywood's cluster messages:
//
//   - A member is added on a Handshake it sent to "members/node" (the
//     same name on every node); each node handshakes every member each
//     HeartbeatEvery, and sends all members the list when it learns of a
//     new one, so each handshakes the ones it does not know.
//   - A member is dropped when its connection breaks
//     (actor.RemoteUnreachableEvent), when it says it leaves, or after
//     MemberTimeout without a Handshake.
//   - An address is dialled with plain TCP, off the actor, before any
//     message goes to it: v1.0.5's router dials inside its actor with
//     sleeps (3 s for a refused address), holding up every message.
package cluster

// Package cluster joins a Backlot node to its peers over Hollywood's
// remoting (remote, v1.0.5): Start builds an engine whose remote listens
// on the node's cluster address and a membership actor on it; Members
// reports who the node sees and OnChange tells the actors each change.
// cmd/backlot starts it only when --cluster-listen is set; without it a
// node is a cluster of one.
//
// # Why not Hollywood's cluster package
//
// Its SelfManaged provider also announces and browses mDNS, which would
// merge every Backlot on a network segment (every test run on a machine,
// too) into one cluster, and calls log.Fatal when multicast is
// unavailable; it addresses a bootstrap member by id as well as address,
// while --peers gives addresses only; and its agent answers Members by a
// request that can time out. Backlot needs only the member list, so it
// keeps that itself, speaking Hollywood's own cluster messages.
//
// # Membership rules
//
//   - A member is added only on direct evidence: a Handshake it sent to
//     this node's membership actor ("members/node", the same name on every
//     node). Every node sends one to every member each HeartbeatEvery.
//   - A node that learns of a member it did not know sends all members the
//     list (Members); a receiver handshakes the ones it does not know.
//   - A member is dropped when its connection breaks (Hollywood's
//     actor.RemoteUnreachableEvent), when it says it leaves, or after
//     MemberTimeout without a Handshake (a stalled process keeps its
//     connection open).
//   - An address is dialled with plain TCP, off the actor, before any
//     message goes to a node not known to be alive: v1.0.5's stream writer
//     dials inside the remote's router actor with retries and sleeps (3 s
//     for a refused address), holding up every message this node sends.
package cluster

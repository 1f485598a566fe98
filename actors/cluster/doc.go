// Package cluster joins a Backlot node to its peers with Hollywood's
// remoting (remote) and cluster packages, v1.0.5: Start builds an engine
// whose remote listens on the node's cluster address, a hollywood
// cluster.Cluster on it with the node id, and a membership provider of
// ours, and Members reports who the node sees. cmd/backlot starts it only
// when --cluster-listen is set; a node without it runs alone as before.
//
// # Why a provider of our own
//
// Hollywood's SelfManaged provider also announces and browses mDNS
// (zeroconf), which would merge every Backlot on a network segment — every
// test run on a machine, too — into one cluster, and calls log.Fatal when
// multicast is unavailable. It also addresses a bootstrap member by id as
// well as address, while --peers gives addresses only, and it never tells a
// member about a node that joined through another. So Backlot plugs its own
// provider into cluster.Config.WithProvider, speaking Hollywood's own
// cluster messages (Handshake, Members) and feeding the agent the member
// list exactly as SelfManaged does; activation, kinds and the agent are
// Hollywood's.
//
// # Membership rules
//
//   - A member is added only on direct evidence: a Handshake it sent. Every
//     node sends one to every member each HeartbeatEvery (the heartbeat).
//   - A bootstrap peer (address only) gets a Handshake at its door, a
//     fixed-name actor every node runs ("peers/door"), which hands it to the
//     provider; the answer is a Handshake from the peer's provider.
//   - A node that learns of a member it did not know sends all members the
//     list (Members); a receiver handshakes the ones it does not know.
//   - A member is dropped when its connection breaks (Hollywood's
//     actor.RemoteUnreachableEvent) or after MemberTimeout without a
//     Handshake from it (a stalled process keeps its connection open).
//   - An address is dialled with plain TCP, off the actor, before any
//     message goes to a node not known to be alive: v1.0.5's stream writer
//     dials inside the remote's router actor with retries and sleeps (3 s
//     for a refused address), holding up every message this node sends.
package cluster

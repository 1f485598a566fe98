// Package clusterpb holds the protobuf messages Backlot nodes send each
// other over Hollywood's remoting (messages.proto, generated into
// messages.pb.go by `make generate`), and the conversions between them and
// the persistence types (convert.go).
//
// Hollywood v1.0.5's remote serialises every message with
// remote.ProtoSerializer: proto.Marshal on the sending node, and on the
// receiving one a lookup of the message's full name (backlot.cluster.Event,
// …) in protoregistry.GlobalTypes. Importing this package registers them.
// Local-only messages stay plain structs in package actors.
//
// Invariant: a conversion round trip is lossless for every value the
// actors produce (tested), so a supervisor on another node sees exactly the
// event its store returned.
package clusterpb

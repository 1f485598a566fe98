// Package storetest is the one conformance suite for persistence.Store:
// every rule of the contract, run as subtests against any backend. A rule
// belongs here, never in one backend's own tests, so that every backend is
// held to the same ones.
//
// # Plugging in a backend
//
// A backend's _test.go gives Run a function that prepares fresh, empty data
// for one subtest and returns an Opener for it. The Opener opens a store on
// that same data each time it is called, so the suite can close a store and
// reopen it to check what survived. The suite closes every store it opens.
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) storetest.Opener {
//			path := filepath.Join(t.TempDir(), "backlot.db") // fresh data per subtest
//			return func(t *testing.T) persistence.Store {
//				s, err := bolt.Open(path)
//				if err != nil {
//					t.Fatal(err)
//				}
//				return s
//			}
//		})
//	}
//
// A networked backend does the same with a fresh database (a flushed test
// db, a unique key prefix) in place of the temporary file.
//
// # What the suite assumes
//
// Subtests run one after another, never in parallel, each on data of its own.
// Nothing sleeps: waits are on channels, bounded by a generous timeout that
// fails the test instead of hanging it. Every method of the contract
// (Ping, QueueDepth, retention, fencing included) is run on every backend:
// none is optional.
package storetest

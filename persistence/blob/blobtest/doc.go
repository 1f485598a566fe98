// Package blobtest is the one conformance suite for blob.Store: every rule
// of the contract, run as subtests against any backend. A rule belongs
// here, never in one backend's own tests, so that every backend is held
// to the same ones.
//
// # Plugging in a backend
//
// A backend's _test.go gives Run a function that returns a fresh, empty
// store for one subtest:
//
//	func TestStore(t *testing.T) {
//		blobtest.Run(t, func(t *testing.T) blob.Store {
//			s, err := fsblob.New(t.TempDir(), fsblob.Options{})
//			if err != nil {
//				t.Fatal(err)
//			}
//			return s
//		})
//	}
//
// A remote backend does the same with a fresh bucket, or a unique key
// prefix in one. The function may register a t.Cleanup that checks what
// the API cannot show (fsblob: no temp file left): every Writer the suite
// opens is committed or aborted before its subtest ends.
//
// A backend with a server (s3blob) also runs RunOutage, giving it a way
// to kill its server and start it again (blobtest.Outage): mid-read and
// mid-put, every call fails with blob.ErrUnavailable within a bound
// instead of hanging, and no object is left holding part of its bytes.
// (A local store has no server to lose; its interrupted streams, a
// reader failing mid-Put, are in Run, for every backend.)
//
// # What the suite assumes
//
// Subtests run one after another, each on a store of its own. Nothing
// sleeps: goroutines are waited for, bounded by a generous timeout that
// fails the test instead of hanging it. The suite reads back only
// through the API, so it checks that nothing is visible, never what a
// backend keeps where nobody looks; durability past a power cut is not
// something a test in one process can see (Durable and Sync are called,
// and must leave the object readable).
package blobtest

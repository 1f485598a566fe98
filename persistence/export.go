package persistence

// Sink takes a store's contents record by record, to move them into
// another backend (the embedded store's move from bbolt to Pebble: bolt's
// Export, pebble's Import). The values are the JSON a backend stores; a
// sink copies what it keeps, since the caller may reuse the bytes.
type Sink interface {
	// Batch takes a batch: b decoded, raw as stored.
	Batch(b *Batch, raw []byte) error
	// Event takes the event seq of batch id's log.
	Event(id string, seq uint64, raw []byte) error
	// Job takes a job not acked, in the order it is to be claimed.
	Job(raw []byte) error
}

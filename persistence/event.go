package persistence

import (
	"time"
)

// EventType names an event of a batch's log (API.md, "Progress events").
type EventType string

// The event types of API.md.
const (
	EventQueued     EventType = "queued"
	EventProcessing EventType = "processing"
	EventRetrying   EventType = "retrying"
	EventCompleted  EventType = "completed"
	EventFailed     EventType = "failed"
	EventDone       EventType = "done"
)

// Terminal reports whether the type ends an image.
func (t EventType) Terminal() bool { return t == EventCompleted || t == EventFailed }

// ImageRef names an image in the queued event.
type ImageRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Event is one entry of a batch's log. Which fields matter depends on
// Type; the HTTP layer renders each as API.md says (an event's result URL
// is the API's business, made there from the ids). Seq is assigned by
// Batch.Apply when the event is appended.
type Event struct {
	Seq      uint64    `json:"seq"`
	Type     EventType `json:"type"`
	BatchID  string    `json:"batchId"`
	ImageID  string    `json:"imageId,omitempty"`
	Attempt  int       `json:"attempt,omitempty"`
	Attempts int       `json:"attempts,omitempty"`
	Error    string    `json:"error,omitempty"`
	Width    int       `json:"width,omitempty"`
	Height   int       `json:"height,omitempty"`
	Bytes    int64     `json:"bytes,omitempty"`
	// Sum is the result's CRC-32C (completed); not part of the client's
	// data: readers check the file against it.
	Sum uint32 `json:"sum,omitempty"`
	// Variants are a completed image's outputs in a batch with variants
	// (Width … Sum are the first one's).
	Variants  []Output   `json:"variants,omitempty"`
	Total     int        `json:"total,omitempty"`
	Completed int        `json:"completed,omitempty"`
	Failed    int        `json:"failed,omitempty"`
	Images    []ImageRef `json:"images,omitempty"`
	// At is when the event was made; not part of the client's data.
	At time.Time `json:"at,omitzero"`
	// Unavailable marks a retrying event whose attempt failed because the
	// blob store could not be reached: not the image's fault, so the
	// attempt is not counted against the image (Image.Unreachable,
	// Image.Charged). Not part of the client's data.
	Unavailable bool `json:"unavailable,omitempty"`
}

// Job is one unit of queued work: resize image ImageID of batch BatchID.
type Job struct {
	BatchID string `json:"b"`
	ImageID string `json:"i"`
}

// String renders the job for logs and as a stable key.
func (j Job) String() string { return j.BatchID + "/" + j.ImageID }

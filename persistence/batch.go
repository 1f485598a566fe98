package persistence

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// ImageState is where one image stands.
type ImageState string

// Image states, as API.md names them.
const (
	ImageQueued     ImageState = "queued"
	ImageProcessing ImageState = "processing"
	ImageCompleted  ImageState = "completed"
	ImageFailed     ImageState = "failed"
)

// Terminal reports whether no further event may change the image.
func (s ImageState) Terminal() bool { return s == ImageCompleted || s == ImageFailed }

// BatchState is where a batch stands, derived from its images.
type BatchState string

// Batch states, as API.md names them.
const (
	BatchQueued     BatchState = "queued"
	BatchProcessing BatchState = "processing"
	BatchDone       BatchState = "done"
)

// Image is one uploaded image of a batch.
type Image struct {
	ID   string `json:"id"`
	Name string `json:"name"` // the client's filename, echoed only, never a path
	// Format is the sniffed input format (jpeg, png, gif, webp, bmp, tiff).
	Format   string     `json:"format"`
	State    ImageState `json:"state"`
	Attempts int        `json:"attempts"` // processing events recorded so far
	Error    string     `json:"error,omitempty"`
	// Unreachable counts the attempts that failed because the blob store
	// could not be reached (retrying events marked Unavailable): numbered
	// like the others, but not counted against the image (Charged).
	Unreachable int `json:"unreachable,omitempty"`
	// Output, set when completed.
	Width  int   `json:"width,omitempty"`
	Height int   `json:"height,omitempty"`
	Bytes  int64 `json:"bytes,omitempty"`
	// Sum is the result file's CRC-32C, to tell a result a power cut took
	// (results are not fsynced); 0 for results recorded without one.
	Sum uint32 `json:"sum,omitempty"`
	// Variants, set when completed in a batch with variants: each one's
	// output, in the options' order (the first is also Width … Sum).
	Variants []Output `json:"variants,omitempty"`
}

// Charged is how many of the image's attempts count against its limit:
// all but those the blob store's outages failed.
func (im *Image) Charged() int { return im.Attempts - im.Unreachable }

// Batch is one upload: its options, its images and the head of its event log.
type Batch struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"createdAt"`
	Options   Options   `json:"options"`
	Images    []Image   `json:"images"`
	Completed int       `json:"completed"`
	Failed    int       `json:"failed"`
	Done      bool      `json:"done"`
	// DoneAt is when done was recorded (the done event's At); retention
	// counts from it.
	DoneAt time.Time `json:"doneAt,omitzero"`
	// LastSeq is the sequence number of the newest event in the log.
	LastSeq uint64 `json:"lastSeq"`
}

// Image returns the image with that id, or nil.
func (b *Batch) Image(id string) *Image {
	for i := range b.Images {
		if b.Images[i].ID == id {
			return &b.Images[i]
		}
	}
	return nil
}

// State derives the batch's state: done once done is recorded, queued while
// no attempt has started, processing in between.
func (b *Batch) State() BatchState {
	if b.Done {
		return BatchDone
	}
	for _, im := range b.Images {
		if im.Attempts > 0 || im.State != ImageQueued {
			return BatchProcessing
		}
	}
	return BatchQueued
}

// Finished reports whether every image has its terminal event.
func (b *Batch) Finished() bool { return b.Completed+b.Failed == len(b.Images) }

// Clone returns a copy whose images are its own, so a caller may keep one
// while the owner changes its images. Variants slices (the options' and
// each image's) are shared: they are replaced, never changed in place
// (Apply does so), which the stores' BatchMemo relies on.
func (b *Batch) Clone() *Batch {
	c := *b
	c.Images = append([]Image(nil), b.Images...)
	return &c
}

// LogValue makes a batch log as one group.
func (b *Batch) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("batch_id", b.ID),
		slog.Int("total", len(b.Images)),
		slog.Int("completed", b.Completed),
		slog.Int("failed", b.Failed),
		slog.Bool("done", b.Done),
	)
}

// NewBatch builds a fresh batch and its first event (queued, seq 1, applied).
func NewBatch(id string, created time.Time, opts Options, images []Image) (*Batch, Event, error) {
	images = slices.Clone(images) // the caller's slice is not ours to reset
	b := &Batch{ID: id, CreatedAt: created.UTC(), Options: opts, Images: images}
	refs := make([]ImageRef, len(images))
	for i := range b.Images {
		b.Images[i].State = ImageQueued
		b.Images[i].Attempts = 0
		refs[i] = ImageRef{ID: images[i].ID, Name: images[i].Name}
	}
	ev := Event{Type: EventQueued, BatchID: id, Total: len(images), Images: refs, At: b.CreatedAt}
	if err := b.Apply(&ev); err != nil {
		return nil, Event{}, err
	}
	return b, ev, nil
}

// Apply checks ev against the rules of the event log and, when it fits,
// records it in b: it assigns ev.Seq = b.LastSeq+1 and moves the image's
// state and the counters. It returns an error wrapping ErrConflict and leaves
// b unchanged when the event breaks a rule:
//   - queued only as the first event;
//   - nothing after done; done only when every image is terminal;
//   - no event for a terminal image (so at most one terminal event each).
//
// Every backend calls Apply inside its write so that all enforce one rule set.
func (b *Batch) Apply(ev *Event) error {
	if ev.BatchID != b.ID {
		return fmt.Errorf("%w: event for batch %q applied to %q", ErrConflict, ev.BatchID, b.ID)
	}
	if b.Done {
		return fmt.Errorf("%w: batch %s is done; %s refused", ErrConflict, b.ID, ev.Type)
	}
	switch ev.Type {
	case EventQueued:
		if b.LastSeq != 0 {
			return fmt.Errorf("%w: queued must be the first event", ErrConflict)
		}
	case EventDone:
		if !b.Finished() {
			return fmt.Errorf("%w: done before every image is terminal (%d+%d of %d)", ErrConflict, b.Completed, b.Failed, len(b.Images))
		}
		ev.Total, ev.Completed, ev.Failed = len(b.Images), b.Completed, b.Failed
		b.Done = true
		b.DoneAt = ev.At
	case EventProcessing, EventRetrying, EventCompleted, EventFailed:
		im := b.Image(ev.ImageID)
		if im == nil {
			return fmt.Errorf("%w: image %q of batch %s", ErrNotFound, ev.ImageID, b.ID)
		}
		if im.State.Terminal() {
			return fmt.Errorf("%w: image %s is already %s; %s refused", ErrConflict, im.ID, im.State, ev.Type)
		}
		switch ev.Type {
		case EventProcessing:
			im.Attempts++
			ev.Attempt = im.Attempts
			im.State = ImageProcessing
		case EventRetrying:
			ev.Attempt = im.Attempts
			im.State = ImageQueued
			im.Error = ev.Error
			if ev.Unavailable {
				im.Unreachable++ // the store's fault, not the image's: not counted
			}
		case EventCompleted:
			if err := b.checkOutputs(ev.Variants); err != nil {
				return err
			}
			im.State, im.Error = ImageCompleted, ""
			im.Width, im.Height, im.Bytes, im.Sum = ev.Width, ev.Height, ev.Bytes, ev.Sum
			im.Variants = slices.Clone(ev.Variants)
			b.Completed++
		case EventFailed:
			im.State, im.Error = ImageFailed, ev.Error
			ev.Attempts = im.Attempts
			b.Failed++
		}
	default:
		return fmt.Errorf("%w: unknown event type %q", ErrConflict, ev.Type)
	}
	b.LastSeq++
	ev.Seq = b.LastSeq
	return nil
}

// checkOutputs refuses a completed event whose outputs are not the
// batch's variants, each once in order: an image's variants are one unit,
// completed together or not at all.
func (b *Batch) checkOutputs(outs []Output) error {
	if len(b.Options.Variants) == 0 {
		if len(outs) != 0 {
			return fmt.Errorf("%w: variants recorded for batch %s, which has none", ErrConflict, b.ID)
		}
		return nil
	}
	if len(outs) != len(b.Options.Variants) {
		return fmt.Errorf("%w: %d of the %d variants of batch %s completed", ErrConflict, len(outs), len(b.Options.Variants), b.ID)
	}
	for i, v := range b.Options.Variants {
		if outs[i].Name != v.Name {
			return fmt.Errorf("%w: variant %q recorded where %q belongs", ErrConflict, outs[i].Name, v.Name)
		}
	}
	return nil
}

// Decide is the store's half of a write: it applies evs, as a writer
// proposes them, to a copy of b and decides what follows from them. When
// they leave every image terminal, done follows in the same write (At: the
// last event's), so which event ends a batch is decided with the
// transition that ends it, inside the store's transaction, and no crash
// can fall between them. It returns the batch after the write and the
// events to store: evs with their Seq, then done when it came. A writer
// never proposes queued (NewBatch makes it) or done (the store decides
// it): either is refused with an error wrapping ErrConflict, as is any
// broken rule of Apply; b is untouched then. evs is not modified.
func (b *Batch) Decide(evs []Event) (*Batch, []Event, error) {
	out := make([]Event, len(evs), len(evs)+1)
	copy(out, evs)
	nb := b.Clone()
	for i := range out {
		if t := out[i].Type; t == EventQueued || t == EventDone {
			return nil, nil, fmt.Errorf("%w: %s is not a writer's to append (batch %s)", ErrConflict, t, b.ID)
		}
		if err := nb.Apply(&out[i]); err != nil {
			return nil, nil, err
		}
	}
	if nb.Finished() && !nb.Done {
		done := Event{Type: EventDone, BatchID: b.ID}
		if len(out) > 0 {
			done.At = out[len(out)-1].At
		}
		if err := nb.Apply(&done); err != nil {
			return nil, nil, err
		}
		out = append(out, done)
	}
	return nb, out, nil
}

// CheckNew is the shape a backend's Create accepts: a fresh batch from
// NewBatch and its queued event as seq 1. Create trusts NewBatch for the
// rules, but a batch that did not come from it would start its log wrong
// for good, so every backend checks this once.
func CheckNew(b *Batch, queued Event) error {
	if b.ID == "" || queued.Type != EventQueued || queued.BatchID != b.ID || queued.Seq != 1 || b.LastSeq != 1 {
		return fmt.Errorf("want a fresh batch from persistence.NewBatch and its queued event as seq 1 (got %s seq %d for %q, LastSeq %d)",
			queued.Type, queued.Seq, queued.BatchID, b.LastSeq)
	}
	return nil
}

// NewRecord is a fresh batch as every backend's Create stores it, each
// part as JSON: the batch, its queued event and one job per image, in
// image order.
type NewRecord struct {
	Batch, Queued []byte
	Jobs          [][]byte
}

// EncodeNew checks that b and queued are what Create accepts (CheckNew)
// and encodes them: the preamble every backend's Create shares.
func EncodeNew(b *Batch, queued Event) (NewRecord, error) {
	var r NewRecord
	if err := CheckNew(b, queued); err != nil {
		return r, err
	}
	var err error
	if r.Batch, err = json.Marshal(b); err != nil {
		return r, err
	}
	if r.Queued, err = json.Marshal(queued); err != nil {
		return r, err
	}
	r.Jobs = make([][]byte, len(b.Images))
	for i, im := range b.Images {
		if r.Jobs[i], err = json.Marshal(Job{BatchID: b.ID, ImageID: im.ID}); err != nil {
			return r, err
		}
	}
	return r, nil
}

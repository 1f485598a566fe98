package clusterpb

import (
	"errors"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/backlot/backlot/actors/resize"
	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/blob"
)

// FromJob converts a persistence.Job.
func FromJob(j persistence.Job) *Job {
	return &Job{BatchId: j.BatchID, ImageId: j.ImageID}
}

// Persistence converts back; a nil Job is the zero Job.
func (j *Job) Persistence() persistence.Job {
	return persistence.Job{BatchID: j.GetBatchId(), ImageID: j.GetImageId()}
}

// FromOptions converts persistence.Options.
func FromOptions(o persistence.Options) *Options {
	po := &Options{
		Width: int32(o.Width), Height: int32(o.Height), Fit: string(o.Fit),
		Format: string(o.Format), Quality: int32(o.Quality),
	}
	for _, v := range o.Variants {
		po.Variants = append(po.Variants, &Variant{Name: v.Name, Width: int32(v.Width), Height: int32(v.Height),
			Fit: string(v.Fit), Format: string(v.Format), Quality: int32(v.Quality)})
	}
	return po
}

// Persistence converts back.
func (o *Options) Persistence() persistence.Options {
	po := persistence.Options{
		Width: int(o.GetWidth()), Height: int(o.GetHeight()), Fit: persistence.Fit(o.GetFit()),
		Format: persistence.Format(o.GetFormat()), Quality: int(o.GetQuality()),
	}
	for _, v := range o.GetVariants() {
		po.Variants = append(po.Variants, persistence.Variant{Name: v.GetName(), Width: int(v.GetWidth()), Height: int(v.GetHeight()),
			Fit: persistence.Fit(v.GetFit()), Format: persistence.Format(v.GetFormat()), Quality: int(v.GetQuality())})
	}
	return po
}

// FromOutputs converts a completed image's variants; nil stays nil.
func FromOutputs(outs []persistence.Output) []*Output {
	var po []*Output
	for _, o := range outs {
		po = append(po, &Output{Name: o.Name, Width: int32(o.Width), Height: int32(o.Height), Bytes: o.Bytes, Sum: o.Sum})
	}
	return po
}

// ToOutputs converts back; none is nil.
func ToOutputs(po []*Output) []persistence.Output {
	var outs []persistence.Output
	for _, o := range po {
		outs = append(outs, persistence.Output{Name: o.GetName(), Width: int(o.GetWidth()), Height: int(o.GetHeight()), Bytes: o.GetBytes(), Sum: o.GetSum()})
	}
	return outs
}

// FromEvent converts a persistence.Event. A zero At stays absent.
func FromEvent(e persistence.Event) *Event {
	pe := &Event{
		Seq: e.Seq, Type: string(e.Type), BatchId: e.BatchID, ImageId: e.ImageID,
		Attempt: int32(e.Attempt), Attempts: int32(e.Attempts), Error: e.Error,
		Width: int32(e.Width), Height: int32(e.Height), Bytes: e.Bytes, Sum: e.Sum,
		Total: int32(e.Total), Completed: int32(e.Completed), Failed: int32(e.Failed),
		Variants: FromOutputs(e.Variants),
	}
	for _, im := range e.Images {
		pe.Images = append(pe.Images, &ImageRef{Id: im.ID, Name: im.Name})
	}
	if !e.At.IsZero() {
		pe.At = timestamppb.New(e.At)
	}
	return pe
}

// Persistence converts back; At comes back in UTC, as the store keeps it.
func (e *Event) Persistence() persistence.Event {
	pe := persistence.Event{
		Seq: e.GetSeq(), Type: persistence.EventType(e.GetType()), BatchID: e.GetBatchId(), ImageID: e.GetImageId(),
		Attempt: int(e.GetAttempt()), Attempts: int(e.GetAttempts()), Error: e.GetError(),
		Width: int(e.GetWidth()), Height: int(e.GetHeight()), Bytes: e.GetBytes(), Sum: e.GetSum(),
		Total: int(e.GetTotal()), Completed: int(e.GetCompleted()), Failed: int(e.GetFailed()),
		Variants: ToOutputs(e.GetVariants()),
	}
	for _, im := range e.GetImages() {
		pe.Images = append(pe.Images, persistence.ImageRef{ID: im.GetId(), Name: im.GetName()})
	}
	if e.GetAt() != nil {
		pe.At = e.GetAt().AsTime()
	}
	return pe
}

// FromEvents converts a slice of events, keeping their order.
func FromEvents(evs []persistence.Event) []*Event {
	out := make([]*Event, len(evs))
	for i := range evs {
		out[i] = FromEvent(evs[i])
	}
	return out
}

// ToEvents converts events back, in order.
func ToEvents(evs []*Event) []persistence.Event {
	out := make([]persistence.Event, len(evs))
	for i, e := range evs {
		out[i] = e.Persistence()
	}
	return out
}

// Error codes of Delivery.error_code: the sentinels a subscriber may test
// with errors.Is after the error crossed a node.
const (
	CodeNotFound    = "not_found"
	CodeUnavailable = "unavailable"
	CodeMoved       = "moved"
)

// ErrMoved is the error of a Delivery that tells a subscriber its batch's
// supervisor stopped serving it (fenced off by another writer, or the
// batch's owner changed): subscribe again from the last event passed on.
var ErrMoved = errors.New("the batch's supervisor moved")

// NewDelivery builds a Delivery; err, when set, is carried as its text and,
// for the persistence sentinels, its code.
func NewDelivery(evs []persistence.Event, final bool, err error) *Delivery {
	d := &Delivery{Events: FromEvents(evs), Final: final}
	if err != nil {
		d.Error = err.Error()
		switch {
		case errors.Is(err, persistence.ErrNotFound):
			d.ErrorCode = CodeNotFound
		case errors.Is(err, persistence.ErrUnavailable):
			d.ErrorCode = CodeUnavailable
		case errors.Is(err, ErrMoved):
			d.ErrorCode = CodeMoved
		}
	}
	return d
}

// Err is the delivery's error on this side of the wire, or nil: it wraps
// the persistence sentinel its code names, so errors.Is still works.
func (d *Delivery) Err() error {
	if d.GetError() == "" {
		return nil
	}
	switch d.GetErrorCode() {
	case CodeNotFound:
		return &remoteError{msg: d.GetError(), is: persistence.ErrNotFound}
	case CodeUnavailable:
		return &remoteError{msg: d.GetError(), is: persistence.ErrUnavailable}
	case CodeMoved:
		return &remoteError{msg: d.GetError(), is: ErrMoved}
	}
	return errors.New(d.GetError())
}

// remoteError is an error that crossed a node: its text as it was, and
// the sentinel it wrapped there.
type remoteError struct {
	msg string
	is  error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.is }

// FromWork converts a resize.Work.
func FromWork(w resize.Work) *Work {
	return &Work{Job: FromJob(w.Job), Opts: FromOptions(w.Opts), Attempt: int32(w.Attempt)}
}

// Resize converts back.
func (w *Work) Resize() resize.Work {
	return resize.Work{Job: w.GetJob().Persistence(), Opts: w.GetOpts().Persistence(), Attempt: int(w.GetAttempt())}
}

// FromDone converts a resize.Done; its error crosses as its message and
// whether it is permanent.
func FromDone(d resize.Done) *WorkDone {
	w := &WorkDone{
		Job: FromJob(d.Job), Attempt: int32(d.Attempt), Width: int32(d.Res.Width), Height: int32(d.Res.Height),
		Bytes: d.Res.Bytes, Sum: d.Res.Sum, Took: durationpb.New(d.Took), Pool: d.Pool,
		Variants: FromOutputs(d.Res.Variants),
	}
	if d.Err != nil {
		w.Failure = &Failure{Message: resize.Message(d.Err), Permanent: resize.Permanent(d.Err),
			Unavailable: errors.Is(d.Err, blob.ErrUnavailable)}
	}
	return w
}

// Resize converts back; the error is the Failure (see Failure.Unwrap).
func (w *WorkDone) Resize() resize.Done {
	d := resize.Done{Job: w.GetJob().Persistence(), Attempt: int(w.GetAttempt()), Took: w.GetTook().AsDuration(), Pool: w.GetPool()}
	d.Res = resize.Result{Width: int(w.GetWidth()), Height: int(w.GetHeight()), Bytes: w.GetBytes(), Sum: w.GetSum(),
		Variants: ToOutputs(w.GetVariants())}
	if f := w.GetFailure(); f != nil {
		d.Err = f
	}
	return d
}

// Error is the attempt's error text as it was on the resizer's node, so
// resize.Message gives what it gave there.
func (f *Failure) Error() string { return f.GetMessage() }

// Unwrap makes a permanent failure wrap resize.ErrUnsupported, so
// resize.Permanent holds on this side too, and one of an unreachable blob
// store wrap blob.ErrUnavailable, so it is not charged on this side either.
func (f *Failure) Unwrap() error {
	switch {
	case f.GetPermanent():
		return resize.ErrUnsupported
	case f.GetUnavailable():
		return blob.ErrUnavailable
	}
	return nil
}

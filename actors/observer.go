package actors

import (
	"time"

	"github.com/backlot/backlot/actors/resize"
	"github.com/backlot/backlot/persistence"
)

// Observer is told what the actors do, for metrics. Its methods are called
// from actor goroutines: they must be cheap and safe for concurrent use.
type Observer interface {
	resize.Watcher // an attempt on a resizer
	// AttemptDone: an attempt's outcome as recorded (completed, failed,
	// retrying) and how long the resize took.
	AttemptDone(outcome persistence.EventType, took time.Duration)
	// ImageFinished: an image's terminal state was recorded.
	ImageFinished(state persistence.ImageState)
	// BatchDone: a batch's done was recorded.
	BatchDone()
	// SubscriberCut: a subscriber fell too far behind and was cut off.
	SubscriberCut()
}

type nopObserver struct{}

func (nopObserver) ResizeStarted()                                   {}
func (nopObserver) ResizeEnded()                                     {}
func (nopObserver) AttemptDone(persistence.EventType, time.Duration) {}
func (nopObserver) ImageFinished(persistence.ImageState)             {}
func (nopObserver) BatchDone()                                       {}
func (nopObserver) SubscriberCut()                                   {}

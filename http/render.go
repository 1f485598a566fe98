package http

import (
	"encoding/json"
	"fmt"

	"github.com/backlot/backlot/persistence"
)

// resultURL is the API path of an image's result.
func resultURL(batchID, imageID string) string {
	return "/api/images/" + batchID + "/" + imageID
}

// outputURL is the API path of an image's result under opts: with
// variants, its first variant's (API.md: an image's url is the first
// variant's); without, the result's.
func outputURL(batchID, imageID string, opts persistence.Options) string {
	if len(opts.Variants) > 0 {
		return variantURL(batchID, imageID, opts.Variants[0].Name)
	}
	return resultURL(batchID, imageID)
}

// variantURL is the API path of one named variant of an image's results.
func variantURL(batchID, imageID, name string) string {
	return resultURL(batchID, imageID) + "/" + name
}

// variantView is a made variant as API.md shows it.
type variantView struct {
	Name   string `json:"name"`
	URL    string `json:"url"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Bytes  int64  `json:"bytes"`
}

// variantViews renders an image's made variants; nil (left out) when it
// has none.
func variantViews(batchID, imageID string, outs []persistence.Output) []variantView {
	if len(outs) == 0 {
		return nil
	}
	vs := make([]variantView, len(outs))
	for i, o := range outs {
		vs[i] = variantView{Name: o.Name, URL: variantURL(batchID, imageID, o.Name), Width: o.Width, Height: o.Height, Bytes: o.Bytes}
	}
	return vs
}

// eventData renders an event's data line as API.md specifies for its type.
func eventData(e *persistence.Event) ([]byte, error) {
	var v any
	switch e.Type {
	case persistence.EventQueued:
		imgs := e.Images
		if imgs == nil {
			imgs = []persistence.ImageRef{}
		}
		v = struct {
			BatchID string                 `json:"batchId"`
			Total   int                    `json:"total"`
			Images  []persistence.ImageRef `json:"images"`
		}{e.BatchID, e.Total, imgs}
	case persistence.EventProcessing:
		v = struct {
			BatchID string `json:"batchId"`
			ImageID string `json:"imageId"`
			Attempt int    `json:"attempt"`
		}{e.BatchID, e.ImageID, e.Attempt}
	case persistence.EventRetrying:
		v = struct {
			BatchID string `json:"batchId"`
			ImageID string `json:"imageId"`
			Attempt int    `json:"attempt"`
			Error   string `json:"error"`
		}{e.BatchID, e.ImageID, e.Attempt, e.Error}
	case persistence.EventCompleted:
		url := resultURL(e.BatchID, e.ImageID)
		if len(e.Variants) > 0 {
			url = variantURL(e.BatchID, e.ImageID, e.Variants[0].Name)
		}
		v = struct {
			BatchID  string        `json:"batchId"`
			ImageID  string        `json:"imageId"`
			URL      string        `json:"url"`
			Width    int           `json:"width"`
			Height   int           `json:"height"`
			Bytes    int64         `json:"bytes"`
			Variants []variantView `json:"variants,omitempty"`
		}{e.BatchID, e.ImageID, url, e.Width, e.Height, e.Bytes, variantViews(e.BatchID, e.ImageID, e.Variants)}
	case persistence.EventFailed:
		v = struct {
			BatchID  string `json:"batchId"`
			ImageID  string `json:"imageId"`
			Error    string `json:"error"`
			Attempts int    `json:"attempts"`
		}{e.BatchID, e.ImageID, e.Error, e.Attempts}
	case persistence.EventDone:
		v = struct {
			BatchID   string `json:"batchId"`
			Total     int    `json:"total"`
			Completed int    `json:"completed"`
			Failed    int    `json:"failed"`
		}{e.BatchID, e.Total, e.Completed, e.Failed}
	default:
		return nil, fmt.Errorf("unknown event type %q", e.Type)
	}
	return json.Marshal(v)
}

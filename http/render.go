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
		v = struct {
			BatchID string `json:"batchId"`
			ImageID string `json:"imageId"`
			URL     string `json:"url"`
			Width   int    `json:"width"`
			Height  int    `json:"height"`
			Bytes   int64  `json:"bytes"`
		}{e.BatchID, e.ImageID, resultURL(e.BatchID, e.ImageID), e.Width, e.Height, e.Bytes}
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

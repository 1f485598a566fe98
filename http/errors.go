package http

import (
	"errors"
	"log/slog"
	"strconv"
	"syscall"

	"github.com/gofiber/fiber/v2"

	"github.com/backlot/backlot/persistence/blob"
)

// Error is an error a client is meant to read: API.md's JSON
// {"error", "code"} plus "file" when it concerns one uploaded file.
type Error struct {
	Status     int
	Code       string
	Message    string
	File       *string // the client's filename, when the error is about one file
	RetryAfter int     // seconds, for 503
	Extra      map[string]any
}

func (e *Error) Error() string { return e.Message }

func apiError(status int, code, msg string) *Error {
	return &Error{Status: status, Code: code, Message: msg}
}

func fileError(status int, code, msg, file string) *Error {
	return &Error{Status: status, Code: code, Message: msg, File: &file}
}

// Errors the handlers return.
var (
	errNotFound     = apiError(fiber.StatusNotFound, "not_found", "no such batch")
	errUnauthorized = apiError(fiber.StatusUnauthorized, "unauthorized", "this server needs an API token: send Authorization: Bearer <token> (or ?token= for EventSource)")
)

func unavailable(code, msg string) *Error {
	return &Error{Status: fiber.StatusServiceUnavailable, Code: code, Message: msg, RetryAfter: 5}
}

// insufficientStorage is API.md's 507 insufficient_storage, with
// Retry-After: the node's disk is below its free-space floor (or full), so
// it cannot take the upload now; a retry later or on another node may
// succeed.
func insufficientStorage(msg string) *Error {
	return &Error{Status: fiber.StatusInsufficientStorage, Code: "insufficient_storage", Message: msg, RetryAfter: 5}
}

// asAPIError is the one mapping of errors to what a client reads: an
// *Error as it is, Fiber's own errors (fromFiber), and the storage's
// signals met anywhere under a request: the blob store out of room
// (blob.ErrInsufficientStorage: a full disk, or one below its reserve) or
// a full disk under the store's commit (ENOSPC, or a quota's EDQUOT) is
// 507 insufficient_storage; the blob store unreachable
// (blob.ErrUnavailable) is 503 store_unavailable. nil: anything else,
// which is internal.
func asAPIError(err error) *Error {
	var e *Error
	var fe *fiber.Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &fe):
		return fromFiber(fe)
	case errors.Is(err, blob.ErrInsufficientStorage), errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return insufficientStorage("the server's disk is full: the upload was not stored; retry later or on another node")
	case errors.Is(err, blob.ErrUnavailable):
		return unavailable("store_unavailable", "the store is unreachable; retry later")
	}
	return nil
}

// errorHandler is Fiber's Config.ErrorHandler: the one place errors become
// responses (asAPIError). Anything else is internal: logged for the
// operator, never shown to the client.
func errorHandler(log *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		e := asAPIError(err)
		if e == nil {
			log.Error("internal error", "method", c.Method(), "path", c.Path(), "err", err)
			e = apiError(fiber.StatusInternalServerError, "internal", "internal server error")
		}
		body := fiber.Map{"error": e.Message, "code": e.Code}
		if e.File != nil {
			body["file"] = *e.File
		}
		for k, v := range e.Extra {
			body[k] = v
		}
		if e.RetryAfter > 0 {
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(e.RetryAfter))
		}
		return c.Status(e.Status).JSON(body)
	}
}

// fromFiber names Fiber's and fasthttp's own errors with fixed sentences:
// their messages may quote the request (fasthttp's parse errors hold the
// raw request buffer, tokens included), so they never reach the client.
func fromFiber(fe *fiber.Error) *Error {
	switch fe.Code {
	case fiber.StatusRequestEntityTooLarge:
		return apiError(fe.Code, "body_too_large", "the request body is over the size limit")
	case fiber.StatusNotFound:
		return apiError(fe.Code, "not_found", "no such endpoint")
	case fiber.StatusMethodNotAllowed:
		return apiError(fe.Code, "method_not_allowed", "method not allowed on this endpoint")
	case fiber.StatusBadRequest:
		return apiError(fe.Code, "bad_request", "the request is malformed")
	case fiber.StatusRequestTimeout:
		return apiError(fe.Code, "request_timeout", "the request did not arrive in time")
	case fiber.StatusRequestHeaderFieldsTooLarge:
		return apiError(fe.Code, "headers_too_large", "the request headers are over the limit")
	case fiber.StatusRequestURITooLong:
		return apiError(fe.Code, "uri_too_long", "the request target is over the limit")
	case fiber.StatusNotImplemented:
		return apiError(fe.Code, "not_implemented", "this method is not implemented")
	}
	if fe.Code >= 500 {
		return apiError(fe.Code, "http_"+strconv.Itoa(fe.Code), "the server could not serve this request")
	}
	return apiError(fe.Code, "http_"+strconv.Itoa(fe.Code), "the request could not be served")
}

// codeOf is the API code an error will be answered with.
func codeOf(err error) string {
	if e := asAPIError(err); e != nil {
		return e.Code
	}
	return "internal"
}

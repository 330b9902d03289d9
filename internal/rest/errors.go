package rest

import (
	"errors"
	"fmt"
	"net/http"
)

// Code is a stable, machine-readable error code; the CLI and scripts match
// on it, never on the message.
type Code string

// The error catalog: every error the API returns has one of these codes,
// each with one HTTP status.
const (
	CodeBadRequest       Code = "bad_request"       // 400: malformed input; the message names the field
	CodeJobNotFound      Code = "job_not_found"     // 404
	CodeTriggerNotFound  Code = "trigger_not_found" // 404: unknown savepoint trigger id
	CodeArtifactNotFound Code = "artifact_not_found"
	CodeNotFound         Code = "not_found"          // 404: no such endpoint
	CodeMethodNotAllowed Code = "method_not_allowed" // 405
	CodeJobNotRunning    Code = "job_not_running"    // 409: e.g. cancelling a finished job
	CodeTooLarge         Code = "payload_too_large"  // 413
	CodeInternal         Code = "internal"           // 500
	CodeNotImplemented   Code = "not_implemented"    // 501
)

var statusOf = map[Code]int{
	CodeBadRequest:       http.StatusBadRequest,
	CodeJobNotFound:      http.StatusNotFound,
	CodeTriggerNotFound:  http.StatusNotFound,
	CodeArtifactNotFound: http.StatusNotFound,
	CodeNotFound:         http.StatusNotFound,
	CodeMethodNotAllowed: http.StatusMethodNotAllowed,
	CodeJobNotRunning:    http.StatusConflict,
	CodeTooLarge:         http.StatusRequestEntityTooLarge,
	CodeInternal:         http.StatusInternalServerError,
	CodeNotImplemented:   http.StatusNotImplemented,
}

// Status is the HTTP status of code.
func (c Code) Status() int {
	if s, ok := statusOf[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Error is an error with a code from the catalog. A Dispatcher returns
// one for every failure the caller can act on; any other error is a 500.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return "freshet: " + e.Message }

// Errorf returns an *Error with code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// badField is the error of an invalid input field.
func badField(field, format string, args ...any) *Error {
	return &Error{Code: CodeBadRequest, Message: fmt.Sprintf("invalid %s: %s", field, fmt.Sprintf(format, args...))}
}

// ErrorBody is the JSON body of every error response, as Flink's
// {"errors": [...]}, with the stable code added.
type ErrorBody struct {
	Errors []string `json:"errors"`
	Code   Code     `json:"code"`
}

// asError returns err as an *Error, a 500 when it is none.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeInternal, Message: err.Error()}
}

package s3fs

import (
	"context"
	"errors"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go/middleware"
)

// Observe is told of every S3 operation the client makes, retries
// included (for metrics): its name (PutObject, UploadPart, …), how it ended
// and how long it took. It must return at once.
type Observe func(operation, outcome string, d time.Duration)

// Outcomes of an S3 operation.
const (
	OutcomeOK          = "ok"
	OutcomeNotFound    = "not_found"    // 404: an ordinary answer (a Stat of a missing name)
	OutcomeClientError = "client_error" // other 4xx: access denied, precondition failed, …
	OutcomeServerError = "server_error" // 5xx after the SDK's retries
	OutcomeCanceled    = "canceled"     // the caller gave up (ABOR, a timeout)
	OutcomeNetwork     = "network_error"
)

// observeMiddleware wraps each operation, outside the SDK's retry loop.
func observeMiddleware(f Observe) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("s3ftpdObserve",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				start := time.Now()
				out, md, err := next.HandleInitialize(ctx, in)
				f(awsmiddleware.GetOperationName(ctx), outcome(ctx, err), time.Since(start))
				return out, md, err
			}), middleware.Before)
	}
}

func outcome(ctx context.Context, err error) string {
	var re *awshttp.ResponseError
	switch {
	case err == nil:
		return OutcomeOK
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		return OutcomeCanceled
	case errors.As(err, &re) && re.HTTPStatusCode() == 404:
		return OutcomeNotFound
	case errors.As(err, &re) && re.HTTPStatusCode() >= 500:
		return OutcomeServerError
	case errors.As(err, &re) && re.HTTPStatusCode() >= 400:
		return OutcomeClientError
	}
	return OutcomeNetwork
}

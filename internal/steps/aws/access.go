package aws

import "errors"

// AccessDeniedError is wrapped by the error of a call AWS refused for want
// of a permission: it names the IAM action and the resource, so that
// assess can say which permission the bot lacks.
type AccessDeniedError struct {
	// Action is the IAM action, e.g. rds:DescribeDBInstances.
	Action string
	// Resource is the ARN acted on, or *.
	Resource string
	err      error
}

func (e *AccessDeniedError) Error() string { return e.err.Error() }
func (e *AccessDeniedError) Unwrap() error { return e.err }

// AsAccessDenied finds an AccessDeniedError in err's chain.
func AsAccessDenied(err error) (*AccessDeniedError, bool) {
	var ad *AccessDeniedError
	ok := errors.As(err, &ad)
	return ad, ok
}

// accessDenied wraps err when its AWS error code is an access-denied one.
func accessDenied(err error, action, resource string) error {
	if accessDeniedCodes[apiCode(err)] {
		return &AccessDeniedError{Action: action, Resource: resource, err: err}
	}
	return err
}

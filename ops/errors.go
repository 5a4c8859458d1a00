package ops

import (
	"errors"
	"strings"

	"github.com/gofde/gofde/fode"
)

// libraryPrefixes start the messages of this library's errors.
var libraryPrefixes = []string{"ops:", "fode:", "graph:", "sparse:", "layers:", "conv:"}

// Cause strips Gorgonia's machine context from an error that a machine's
// RunAll returned, so that a user sees "ops: FDE gradient: fode: cotangent
// component 6 = NaN: non-finite value" rather than the instruction listing
// around it. Gorgonia's machine errors do not unwrap to the op's error, so
// Cause works on the message: it returns the text from this library's
// first message on (an error of other origin comes back unchanged), and
// errors.Is(Cause(err), fode.ErrNotFinite) reports whether the op failed
// on a non-finite value.
func Cause(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	at := -1
	for _, p := range libraryPrefixes {
		// A message starts the error text or follows a wrapper's ": ".
		if i := strings.Index(msg, ": "+p); i >= 0 && (at < 0 || i+2 < at) {
			at = i + 2
		}
	}
	if at < 0 {
		return err
	}
	return &machineCause{msg: msg[at:], notFinite: errors.Is(err, fode.ErrNotFinite) || strings.HasSuffix(msg, fode.ErrNotFinite.Error())}
}

// machineCause is the library's part of a machine error.
type machineCause struct {
	msg       string
	notFinite bool
}

func (e *machineCause) Error() string { return e.msg }

// Is reports fode.ErrNotFinite when the op failed on a non-finite value.
func (e *machineCause) Is(target error) bool { return e.notFinite && target == fode.ErrNotFinite }

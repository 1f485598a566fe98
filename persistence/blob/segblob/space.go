package segblob

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/backlot/backlot/persistence/blob"
)

// noSpace wraps a full disk's error in blob.ErrInsufficientStorage.
func noSpace(err error) error {
	if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) {
		return fmt.Errorf("%w: %w", blob.ErrInsufficientStorage, err)
	}
	return err
}

//go:build !linux

package source

import (
	"errors"
	"os"
)

// notifier is a stand-in where inotify does not exist: the tail polls.
type notifier struct{}

func newNotifier(string, chan<- struct{}) (*notifier, error) {
	return nil, errors.New("inotify is only available on linux")
}

func (*notifier) watchDir() bool             { return false }
func (*notifier) watchFile(*os.File, string) {}
func (*notifier) close()                     {}

package source

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// EndPosition returns the position just after the last complete line of the
// file at path, as a Tail would report it after reading that line. A daemon
// that starts watching a file for the first time saves it at once: should it
// crash before it has read a line, it resumes there instead of skipping to
// the end again and losing what was written meanwhile.
func EndPosition(path string) (Position, error) {
	f, err := os.Open(path)
	if err != nil {
		return Position{}, fmt.Errorf("open log file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Position{}, fmt.Errorf("stat log file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return Position{}, fmt.Errorf("%s is not a regular file", path)
	}
	pos := Position{Path: path}
	pos.Dev, pos.Inode = fileIdentity(fi)
	buf := make([]byte, 256<<10)
	size := fi.Size()
	var off, lastNL int64 = 0, -1
	first := true
	for off < size {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		chunk := buf[:n]
		if first {
			first = false
			head := chunk[:min(len(chunk), hashPrefix)]
			if i := bytes.IndexByte(head, '\n'); i >= 0 {
				pos.FirstLineHash = firstLineHash(head[:i])
			} else if len(head) == hashPrefix {
				pos.FirstLineHash = firstLineHash(head)
			}
		}
		if c := bytes.Count(chunk, []byte{'\n'}); c > 0 {
			pos.Line += int64(c)
			lastNL = off + int64(bytes.LastIndexByte(chunk, '\n'))
		}
		off += int64(n)
		if err == io.EOF || n == 0 {
			break
		}
		if err != nil {
			return Position{}, fmt.Errorf("read log file: %w", err)
		}
	}
	pos.Offset = lastNL + 1
	return pos, nil
}

package serve

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sync"
)

// JournalFile is the append-only record of every judged connection, one
// JSON object (a Conn) per line, synced as written: a serve restarted in
// the same folder replays it, so a crash loses no verdict.
const JournalFile = "journal.jsonl"

type journal struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// openJournal replays path's lines into take, in order, then opens it
// for appending. A line that does not parse is skipped; an unterminated
// last line (torn by a crash mid-write) is cut off, so the next line
// starts clean.
func openJournal(path string, take func(*Conn)) (*journal, error) {
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("serve: journal: %w", err)
	}
	rest := b
	for len(rest) > 0 {
		line, after, ok := bytes.Cut(rest, []byte{'\n'})
		if !ok {
			if err := os.Truncate(path, int64(len(b)-len(rest))); err != nil {
				return nil, fmt.Errorf("serve: journal: cutting a torn line: %w", err)
			}
			break
		}
		rest = after
		var c Conn
		if json.Unmarshal(line, &c) == nil && c.Seq > 0 {
			take(&c)
		}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("serve: journal: %w", err)
	}
	return &journal{path: path, f: f}, nil
}

func (j *journal) append(c *Conn) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return fmt.Errorf("closed")
	}
	if _, err := j.f.Write(append(b, '\n')); err != nil {
		return err
	}
	return j.f.Sync()
}

func (j *journal) close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}

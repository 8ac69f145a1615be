package serve

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/reports/results"
)

// TestJournalReplaysAfterACrash: serve stopped without a shutdown (its
// journal as a crash leaves it, with a torn last line) restarts with
// every verdict it had journaled, and appends cleanly after them.
func TestJournalReplaysAfterACrash(t *testing.T) {
	dir := t.TempDir()
	s := startServe(t, dir, nil)
	v := newVisitor(t, s, "crash")
	e := find(t, s, "ta-07/server-attests/passport+x509", contract.Client)
	first := v.connect(t, s, e, "")
	second := v.connect(t, s, find(t, s, "ta-07/server-attests/bg+x509/rejects-wrong-challenge", contract.Client), contract.NoAlert)
	// A crash mid-write: half a line at the end.
	f, err := os.OpenFile(filepath.Join(dir, JournalFile), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"seq":3,"visitor":"cra`)
	f.Close()

	var got []*Conn
	j, err := openJournal(filepath.Join(dir, JournalFile), func(c *Conn) { got = append(got, c) })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Seq != first.Seq || got[0].Verdict != results.Pass || got[1].Seq != second.Seq || got[1].Verdict != results.Fail {
		t.Fatalf("replayed %d connections: %+v", len(got), got)
	}
	if err := j.append(&Conn{Seq: 3, Visitor: "after"}); err != nil {
		t.Fatal(err)
	}
	j.close()
	got = nil
	if _, err := openJournal(filepath.Join(dir, JournalFile), func(c *Conn) { got = append(got, c) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[2].Visitor != "after" {
		t.Fatalf("after appending past the torn line, replayed %d", len(got))
	}
}

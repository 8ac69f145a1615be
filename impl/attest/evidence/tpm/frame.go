package tpm

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Response framing on a byte stream (swtpm's TCP server socket): a
// 10-byte header (tag, size, responseCode, big-endian) whose size counts
// the whole response.
const (
	responseHeaderSize = 10
	// maxResponseSize bounds what we buffer; TPM responses fit in a few
	// KiB (go-tpm assumes 4096), so anything larger is a framing error.
	maxResponseSize = 1 << 16
)

// readResponse reads exactly one TPM response from r.
func readResponse(r io.Reader) ([]byte, error) {
	var hdr [responseHeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("reading response header: %w", err)
	}
	size := binary.BigEndian.Uint32(hdr[2:6])
	if size < responseHeaderSize || size > maxResponseSize {
		return nil, fmt.Errorf("response size %d out of range", size)
	}
	rsp := make([]byte, size)
	copy(rsp, hdr[:])
	if _, err := io.ReadFull(r, rsp[responseHeaderSize:]); err != nil {
		return nil, fmt.Errorf("reading response body: %w", err)
	}
	return rsp, nil
}

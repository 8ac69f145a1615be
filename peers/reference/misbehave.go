package reference

import (
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/peers/contract"
)

// ShortNonceLength is the nonce a short-nonce peer sends: below the
// 8-byte minimum of ta-07's nonce<8..255> and of Veraison's nonces.
const ShortNonceLength = 4

// extEarlyData is RFC 8446's early_data extension.
const extEarlyData = 42

// LeakedData is what an app-data-after-alert peer sends after its alert.
const LeakedData = "leaked after a fatal alert\n"

// Misbehaviour maps a contract misbehaviour name to the bugs that make
// the reference peer commit it; "" is correct behaviour. Unknown names
// wrap contract.ErrUnsupported.
func Misbehaviour(name string) (party.Bugs, tls13.Bugs, error) {
	var pb party.Bugs
	var tb tls13.Bugs
	switch name {
	case "":
	case contract.SelectUnoffered:
		pb.SelectUnoffered = true
	case contract.ShortNonce:
		pb.NonceLength = ShortNonceLength
	case contract.WrongChallenge:
		pb.WrongChallenge = true
	case contract.MalformedPayload:
		pb.MalformedPayload = true
	case contract.OmitPayload:
		pb.OmitPayload = true
	case contract.Decline:
		pb.Decline = true
	case contract.OmitCertificateRequest:
		pb.OmitCertificateRequest = true
	case contract.CorruptCertificateVerify:
		tb.CorruptCertificateVerify = true
	case contract.CorruptFinished:
		tb.CorruptFinished = true
	case contract.AppDataAfterAlert:
		tb.ApplicationDataAfterAlert = []byte(LeakedData)
	case contract.NoAlert:
		tb.NoAlert = true
	case contract.AcceptAny:
		pb.AcceptAny = true
	case contract.PayloadNotFirstEntry:
		// The chain gets the CA's certificate as its second entry (see
		// newEndpoint), which then carries the attestation.
		pb.PayloadEntry = 1
	case contract.EarlyDataOffer:
		// An empty early_data in ClientHello: the offer (RFC 8446
		// §4.2.10); the engine never sends the early data itself.
		tb.ExtraExtensions = map[uint8][]tls13.Extension{tls13.MsgClientHello: {{Type: extEarlyData}}}
	case contract.LieInOutcome:
		// Run rewrites the outcome; the connection itself is correct.
	default:
		return pb, tb, contract.Unsupportedf("misbehaviour %q", name)
	}
	return pb, tb, nil
}

// EnvFault makes the peer process fail the way broken peers do, so the
// suite can check it survives them (the fault specs). It is not part of
// the contract; `conformance peer` commits the fault instead of the case.
const EnvFault = "ATLS_FAULT"

// Faults a peer process can be asked to commit.
const (
	FaultHang     = "hang"      // take the connection (listen and accept, or connect), then do nothing
	FaultCrash    = "crash"     // exit 134 (as if SIGABRT) with no outcome, before doing anything
	FaultGarbage  = "garbage"   // print a line that is no outcome and exit 0
	FaultNoListen = "no-listen" // a server that never opens its port, and waits
)

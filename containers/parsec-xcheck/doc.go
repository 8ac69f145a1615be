// Package xcheck cross-checks the TPM attester
// (impl/attest/evidence/tpm) against Veraison's own code: its evidence is
// read and verified with github.com/veraison/parsec and appraised, with
// its exported CoRIM as endorsement, by the PARSEC_TPM scheme of
// github.com/veraison/services v0.0.2501. Both need go-tpm v0.3.3, which
// cannot share a module with the go-tpm v0.9.x the attester uses, hence
// this module. Its only content is the test.
package xcheck

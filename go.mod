module github.com/attested-tls/conformance

go 1.26.0

require (
	github.com/fxamacker/cbor/v2 v2.10.0
	github.com/google/go-tpm v0.9.8
	github.com/lestrrat-go/jwx/v3 v3.0.8
	github.com/onsi/ginkgo/v2 v2.34.0
	github.com/veraison/cmw v0.1.1
	github.com/veraison/ear v1.1.3
	golang.org/x/crypto v0.59.0
)

require (
	github.com/Masterminds/semver/v3 v3.4.0 // indirect
	github.com/decred/dcrd/dcrec/secp256k1/v4 v4.4.0 // indirect
	github.com/goccy/go-json v0.10.3 // indirect
	github.com/huandu/xstrings v1.3.3 // indirect
	github.com/lestrrat-go/blackmagic v1.0.4 // indirect
	github.com/lestrrat-go/httpcc v1.0.1 // indirect
	github.com/lestrrat-go/httprc/v3 v3.0.0 // indirect
	github.com/lestrrat-go/option v1.0.1 // indirect
	github.com/lestrrat-go/option/v2 v2.0.0 // indirect
	github.com/onsi/gomega v1.44.0 // indirect
	github.com/segmentio/asm v1.2.0 // indirect
	github.com/valyala/fastjson v1.6.4 // indirect
	github.com/x448/float16 v0.8.4 // indirect
	golang.org/x/sync v0.25.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/tools v0.52.0 // indirect
)

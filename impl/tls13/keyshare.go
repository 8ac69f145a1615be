package tls13

import (
	"crypto/ecdh"
	"crypto/mlkem"
	"errors"
	"io"
)

// keyShareSecret is our half of a key exchange.
type keyShareSecret struct {
	group CurveID
	ecdh  *ecdh.PrivateKey
	mlkem *mlkem.DecapsulationKey768 // X25519MLKEM768 (client side)
}

func curveFor(g CurveID) ecdh.Curve {
	switch g {
	case X25519:
		return ecdh.X25519()
	case CurveP256:
		return ecdh.P256()
	case CurveP384:
		return ecdh.P384()
	}
	return nil
}

func isSupportedGroup(g CurveID) bool { return curveFor(g) != nil || g == X25519MLKEM768 }

var scalarLen = map[CurveID]int{X25519: 32, CurveP256: 32, CurveP384: 48}

// newECDHKey makes a private key from injected bytes or from rand. Bytes
// from rand that are not a valid scalar are drawn again, so a given reader
// always yields the same key.
func newECDHKey(g CurveID, injected []byte, rand io.Reader) (*ecdh.PrivateKey, error) {
	curve := curveFor(g)
	if injected != nil {
		return curve.NewPrivateKey(injected)
	}
	buf := make([]byte, scalarLen[g])
	for range 100 {
		if _, err := io.ReadFull(rand, buf); err != nil {
			return nil, err
		}
		if k, err := curve.NewPrivateKey(buf); err == nil {
			return k, nil
		}
	}
	return nil, errors.New("tls13: no valid key share scalar from Config.Rand")
}

// generateKeyShare makes a client key share for g.
func (c *Config) generateKeyShare(g CurveID) (*keyShareSecret, []byte, error) {
	var injected []byte
	if c.KeySharePrivate != nil {
		injected = c.KeySharePrivate(g)
	}
	if g == X25519MLKEM768 {
		seed := make([]byte, mlkem.SeedSize)
		if _, err := io.ReadFull(c.rand(), seed); err != nil {
			return nil, nil, err
		}
		dk, err := mlkem.NewDecapsulationKey768(seed)
		if err != nil {
			return nil, nil, err
		}
		x, err := newECDHKey(X25519, injected, c.rand())
		if err != nil {
			return nil, nil, err
		}
		pub := append(dk.EncapsulationKey().Bytes(), x.PublicKey().Bytes()...)
		return &keyShareSecret{group: g, ecdh: x, mlkem: dk}, pub, nil
	}
	if curveFor(g) == nil {
		return nil, nil, errors.New("tls13: no key share for unsupported group")
	}
	k, err := newECDHKey(g, injected, c.rand())
	if err != nil {
		return nil, nil, err
	}
	return &keyShareSecret{group: g, ecdh: k}, k.PublicKey().Bytes(), nil
}

// clientSharedSecret finishes a client's key exchange with the server's share.
func (k *keyShareSecret) clientSharedSecret(serverShare []byte) ([]byte, error) {
	if k.group == X25519MLKEM768 {
		if len(serverShare) != mlkem.CiphertextSize768+32 {
			return nil, Alertf(AlertIllegalParameter, "X25519MLKEM768 server share of %d bytes", len(serverShare))
		}
		ss, err := k.mlkem.Decapsulate(serverShare[:mlkem.CiphertextSize768])
		if err != nil {
			return nil, Alertf(AlertIllegalParameter, "ML-KEM ciphertext: %v", err)
		}
		xs, err := ecdhShared(k.ecdh, serverShare[mlkem.CiphertextSize768:])
		if err != nil {
			return nil, err
		}
		return append(ss, xs...), nil
	}
	return ecdhShared(k.ecdh, serverShare)
}

func ecdhShared(priv *ecdh.PrivateKey, peer []byte) ([]byte, error) {
	pub, err := priv.Curve().NewPublicKey(peer)
	if err != nil {
		return nil, Alertf(AlertIllegalParameter, "invalid key share: %v", err)
	}
	ss, err := priv.ECDH(pub)
	if err != nil {
		return nil, Alertf(AlertIllegalParameter, "key exchange: %v", err)
	}
	return ss, nil
}

// serverKeyExchange answers a client share: the server's share and the shared secret.
func (c *Config) serverKeyExchange(g CurveID, clientShare []byte) (serverShare, shared []byte, err error) {
	var injected []byte
	if c.KeySharePrivate != nil {
		injected = c.KeySharePrivate(g)
	}
	if g == X25519MLKEM768 {
		if len(clientShare) != mlkem.EncapsulationKeySize768+32 {
			return nil, nil, Alertf(AlertIllegalParameter, "X25519MLKEM768 client share of %d bytes", len(clientShare))
		}
		ek, err := mlkem.NewEncapsulationKey768(clientShare[:mlkem.EncapsulationKeySize768])
		if err != nil {
			return nil, nil, Alertf(AlertIllegalParameter, "ML-KEM key: %v", err)
		}
		ss, ct := ek.Encapsulate()
		x, err := newECDHKey(X25519, injected, c.rand())
		if err != nil {
			return nil, nil, err
		}
		xs, err := ecdhShared(x, clientShare[mlkem.EncapsulationKeySize768:])
		if err != nil {
			return nil, nil, err
		}
		return append(ct, x.PublicKey().Bytes()...), append(ss, xs...), nil
	}
	k, err := newECDHKey(g, injected, c.rand())
	if err != nil {
		return nil, nil, err
	}
	shared, err = ecdhShared(k, clientShare)
	if err != nil {
		return nil, nil, err
	}
	return k.PublicKey().Bytes(), shared, nil
}

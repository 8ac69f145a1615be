package driver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/attested-tls/conformance/containers/images"
)

// A Veraison takes seconds to start and milliseconds to serve a case, so
// a run keeps the ones it started between cases (AttachVeraison). Each
// serves one case at a time: a run has at most as many as it runs cases
// at once, and no case sees another's sessions while it runs. Their
// stores keep what earlier cases provisioned, which no later case can
// use: every attester's keys, and so its endorsement's key ID, are fresh
// in every case.

// veraisonPool holds a driver's idle Veraison deployments.
type veraisonPool struct {
	mu   sync.Mutex
	idle []*Veraison
	all  []*Veraison
	n    int
	// home is the container driver's network the deployments live on
	// between cases, where the test process reaches them.
	home *containerCase
}

// reuseCheck bounds the readiness check of an idle deployment.
const reuseCheck = 5 * time.Second

// AttachVeraison gives the case k a Veraison of the run's for as long as
// the case runs (until Stop or the case's Close), reachable by its peers
// as o.Alias on the case's network: an idle one still READY, or a new one
// started as StartVeraison does. Stop hands it back for later cases.
func AttachVeraison(ctx context.Context, k Case, o VeraisonOptions) (*Veraison, error) {
	if o.Alias == "" {
		o.Alias = DefaultVeraisonAlias
	}
	var pool *veraisonPool
	switch c := k.(type) {
	case *containerCase:
		pool = &c.d.veraison
	case *processCase:
		pool = &c.d.veraison
	default:
		return StartVeraison(ctx, k, o)
	}
	v, err := pool.take(ctx, k, o)
	if err != nil {
		return nil, err
	}
	c, ok := k.(*containerCase)
	if !ok {
		view := v.view()
		view.release = func(context.Context) error { pool.put(v); return nil }
		return view, nil
	}
	id := v.p.c.GetContainerID()
	if _, err := c.d.cli.NetworkConnect(ctx, c.nw.ID, client.NetworkConnectOptions{Container: id,
		EndpointConfig: &network.EndpointSettings{Aliases: []string{o.Alias}}}); err != nil {
		pool.discard(ctx, v)
		return nil, fmt.Errorf("driver: attaching Veraison to the case network: %w", err)
	}
	view := v.view()
	view.PeerVerificationURL = serviceURL(o.Alias, images.VeraisonVerificationPort)
	view.PeerProvisioningURL = serviceURL(o.Alias, images.VeraisonProvisioningPort)
	var once sync.Once
	var rerr error
	view.release = func(ctx context.Context) error {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			_, rerr = c.d.cli.NetworkDisconnect(ctx, c.nw.ID, client.NetworkDisconnectOptions{Container: id, Force: true})
			if rerr != nil {
				pool.discard(ctx, v)
				return
			}
			pool.put(v)
		})
		return rerr
	}
	c.mu.Lock()
	c.attached = append(c.attached, view.release)
	c.mu.Unlock()
	return view, nil
}

// view is v as a case sees it: the same deployment, whose Stop the caller
// sets to hand it back.
func (v *Veraison) view() *Veraison {
	return &Veraison{VerificationURL: v.VerificationURL, ProvisioningURL: v.ProvisioningURL, ManagementURL: v.ManagementURL,
		PeerVerificationURL: v.PeerVerificationURL, PeerProvisioningURL: v.PeerProvisioningURL, EARKey: v.EARKey,
		k: v.k, p: v.p, svc: v.svc, logLevel: v.logLevel}
}

// take returns an idle deployment that still answers as READY with its
// key, or starts one.
func (p *veraisonPool) take(ctx context.Context, k Case, o VeraisonOptions) (*Veraison, error) {
	for {
		p.mu.Lock()
		var v *Veraison
		for i, x := range p.idle {
			if x.logLevel == o.LogLevel {
				v = x
				p.idle = append(p.idle[:i], p.idle[i+1:]...)
				break
			}
		}
		p.mu.Unlock()
		if v == nil {
			break
		}
		cctx, cancel := context.WithTimeout(ctx, reuseCheck)
		err := veraisonReady(cctx, v.VerificationURL, v.ProvisioningURL, v.ManagementURL, v.EARKey)
		cancel()
		if err == nil {
			return v, nil
		}
		p.discard(ctx, v)
	}
	home := k
	if c, ok := k.(*containerCase); ok {
		var err error
		if home, err = p.homeCase(ctx, c.d); err != nil {
			return nil, err
		}
	}
	p.mu.Lock()
	p.n++
	alias := fmt.Sprintf("veraison-%d", p.n)
	p.mu.Unlock()
	v, err := StartVeraison(ctx, home, VeraisonOptions{Alias: alias, ReadyTimeout: o.ReadyTimeout, LogLevel: o.LogLevel})
	if err != nil {
		return nil, err
	}
	v.logLevel = o.LogLevel
	p.mu.Lock()
	p.all = append(p.all, v)
	p.mu.Unlock()
	return v, nil
}

func (p *veraisonPool) homeCase(ctx context.Context, d *ContainerDriver) (*containerCase, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.home == nil {
		// A network of its own, not an idle case network with a case's
		// peer containers on it.
		k, err := d.freshCase(ctx, "veraison-pool")
		if err != nil {
			return nil, err
		}
		p.home = k
	}
	return p.home, nil
}

func (p *veraisonPool) put(v *Veraison) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.idle = append(p.idle, v)
}

// discard stops a deployment that failed and forgets it.
func (p *veraisonPool) discard(ctx context.Context, v *Veraison) {
	p.mu.Lock()
	for i, x := range p.all {
		if x == v {
			p.all = append(p.all[:i], p.all[i+1:]...)
			break
		}
	}
	p.mu.Unlock()
	v.Stop(context.WithoutCancel(ctx))
}

// close stops every deployment and removes their network.
func (p *veraisonPool) close(ctx context.Context) error {
	p.mu.Lock()
	all, home := p.all, p.home
	p.all, p.idle, p.home = nil, nil, nil
	p.mu.Unlock()
	var errs []error
	for _, v := range all {
		errs = append(errs, v.Stop(ctx))
	}
	if home != nil {
		errs = append(errs, home.Close(ctx))
	}
	return errors.Join(errs...)
}

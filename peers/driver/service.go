package driver

import (
	"context"
	"fmt"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
)

// Service is a helper container of a case (swtpm, a verifier) that its
// peers reach on the case's network as Alias:Port.
type Service struct {
	Image, Alias string
	Port         int
	// StartTimeout bounds the wait for Port; zero means StartTimeout.
	StartTimeout time.Duration
}

// ServiceCase is a case that can run services beside its peers (the
// container driver's).
type ServiceCase interface {
	// StartService starts s, returns once its port is open, and gives
	// the address the test process reaches it at. The case's Close
	// removes it; it carries the run's labels, so sweeps find it too.
	StartService(ctx context.Context, s Service) (hostAddr string, err error)
}

var _ ServiceCase = (*containerCase)(nil)

func (c *containerCase) StartService(ctx context.Context, s Service) (string, error) {
	limit := s.StartTimeout
	if limit == 0 {
		limit = StartTimeout
	}
	p := &peerContainer{cli: c.d.cli, started: time.Now()}
	ctr, err := testcontainers.Run(ctx, s.Image,
		testcontainers.WithLabels(c.d.labels(c.name)),
		network.WithNetwork([]string{s.Alias}, c.nw),
		testcontainers.WithWaitStrategy(&portWait{net: c.nw.Name, port: s.Port, limit: limit, ip: &p.ip}))
	if ctr != nil {
		p.c = ctr
		c.mu.Lock()
		c.peers = append(c.peers, p)
		c.mu.Unlock()
	}
	if err != nil {
		return "", fmt.Errorf("driver: service %s (%s): %w", s.Alias, s.Image, err)
	}
	return fmt.Sprintf("%s:%d", p.ip, s.Port), nil
}
